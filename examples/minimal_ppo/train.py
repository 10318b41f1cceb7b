"""A minimal PPO that meets ppo-bench's contract for external agents (docs/bring-your-own.md). Copy it and make it yours.

    python examples/minimal_ppo/train.py --env-id CartPole-v1 --seed 0 --total-timesteps 100000 --out OUT

What ppo-bench reads in OUT when it exits 0:
- episodes.csv: one row per finished training episode, `episode, step, wall_s, return, length`;
- policy.onnx: the policy, observations in (a batch, as the env returns them), logits (discrete) or the mean
  action (continuous) out; ppo-bench plays it on its own evaluation seeds;
- versions.json: this program's own version record (optional).

Dependencies: gymnasium, numpy, torch (and onnx, which torch's exporter needs). Nothing from ppo-bench: an
external agent is any program. One env, no normalization, CleanRL's defaults otherwise (clipped surrogate,
GAE, advantage normalization per minibatch, value loss unclipped, global gradient clipping).
"""

import argparse
import csv
import json
import platform
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--total-timesteps", type=int, required=True)
    parser.add_argument("--out", required=True, help="directory for episodes.csv, policy.onnx, versions.json")
    parser.add_argument("--n-steps", type=int, default=512, help="rollout length")
    parser.add_argument("--n-epochs", type=int, default=4)
    parser.add_argument("--minibatch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2.5e-4)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--gae-lambda", type=float, default=0.95)
    parser.add_argument("--clip-range", type=float, default=0.2)
    parser.add_argument("--ent-coef", type=float, default=0.0)
    parser.add_argument("--vf-coef", type=float, default=0.5)
    parser.add_argument("--max-grad-norm", type=float, default=0.5)
    return parser.parse_args()


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int | None, act_dim: int):
        super().__init__()
        self.discrete = n_actions is not None
        self.critic = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
        out = n_actions if self.discrete else act_dim
        self.actor = nn.Sequential(nn.Linear(obs_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out))
        self.log_std = nn.Parameter(torch.zeros(act_dim))  # unused for discrete actions

    def distribution(self, obs):
        out = self.actor(obs)
        if self.discrete:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp())

    def forward(self, obs):  # what policy.onnx computes: logits, or the mean action
        return self.actor(obs)


def main():
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    env = gym.make(args.env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    obs_dim = int(np.prod(env.observation_space.shape))
    act_dim = 1 if discrete else int(np.prod(env.action_space.shape))
    agent = Agent(obs_dim, env.action_space.n if discrete else None, act_dim)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    n = args.n_steps
    obs_buf = torch.zeros((n, obs_dim))
    act_buf = torch.zeros((n,) if discrete else (n, act_dim))
    logp_buf, rew_buf, val_buf = torch.zeros(n), torch.zeros(n), torch.zeros(n)
    # Termination vs truncation: a time limit bootstraps from V(final observation), a terminal state does not.
    term_buf, next_val_buf, done_buf = torch.zeros(n), torch.zeros(n), torch.zeros(n)

    episodes = []  # (episode, step, wall_s, return, length)
    started = time.perf_counter()
    obs, _ = env.reset(seed=args.seed)
    env.action_space.seed(args.seed)
    ep_return, ep_length, step = 0.0, 0, 0
    while step < args.total_timesteps:
        for t in range(n):
            obs_t = torch.as_tensor(obs, dtype=torch.float32).flatten()
            with torch.no_grad():
                dist = agent.distribution(obs_t)
                action = dist.sample()
                logp = dist.log_prob(action).sum() if not discrete else dist.log_prob(action)
                value = agent.critic(obs_t).squeeze()
            env_action = action.item() if discrete else np.clip(action.numpy(), env.action_space.low, env.action_space.high)
            obs, reward, terminated, truncated, _ = env.step(env_action)
            step += 1
            ep_return += float(reward)
            ep_length += 1
            obs_buf[t], act_buf[t], logp_buf[t], rew_buf[t], val_buf[t] = obs_t, action, logp, float(reward), value
            term_buf[t] = float(terminated)
            done_buf[t] = float(terminated or truncated)
            if terminated or truncated:
                with torch.no_grad():  # V of the final observation, for a truncated episode's bootstrap
                    final = agent.critic(torch.as_tensor(obs, dtype=torch.float32).flatten()).squeeze()
                next_val_buf[t] = final
                episodes.append((len(episodes), step, time.perf_counter() - started, ep_return, ep_length))
                ep_return, ep_length = 0.0, 0
                obs, _ = env.reset()
        with torch.no_grad():
            last_value = agent.critic(torch.as_tensor(obs, dtype=torch.float32).flatten()).squeeze()
        # GAE: delta_t = r_t + gamma V(s_{t+1}) (1 - terminated_t) - V(s_t); A_t = delta_t + gamma lambda A_{t+1}
        # (the recursion stops at any episode end).
        next_values = torch.cat([val_buf[1:], last_value.reshape(1)])
        next_values = torch.where(done_buf > 0, next_val_buf, next_values)
        advantages, running = torch.zeros(n), 0.0
        for t in reversed(range(n)):
            delta = rew_buf[t] + args.gamma * next_values[t] * (1 - term_buf[t]) - val_buf[t]
            running = delta + args.gamma * args.gae_lambda * (1 - done_buf[t]) * running
            advantages[t] = running
        returns = advantages + val_buf

        for _ in range(args.n_epochs):
            for batch in torch.randperm(n).split(args.minibatch_size):
                dist = agent.distribution(obs_buf[batch])
                logp = dist.log_prob(act_buf[batch])
                logp = logp if discrete else logp.sum(-1)
                ratio = (logp - logp_buf[batch]).exp()
                adv = advantages[batch]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                # Clipped surrogate: L = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)]
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - args.clip_range, 1 + args.clip_range) * adv).mean()
                value_loss = 0.5 * (agent.critic(obs_buf[batch]).squeeze(-1) - returns[batch]).pow(2).mean()
                entropy = dist.entropy() if discrete else dist.entropy().sum(-1)
                loss = policy_loss + args.vf_coef * value_loss - args.ent_coef * entropy.mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

    with open(out / "episodes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["episode", "step", "wall_s", "return", "length"])
        writer.writerows(episodes)
    torch.onnx.export(agent, torch.zeros(1, obs_dim), out / "policy.onnx", input_names=["obs"], output_names=["action"],
                      dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}}, dynamo=False)  # fmt: skip
    versions = {"program": "examples/minimal_ppo", "python": platform.python_version(), "torch": torch.__version__,
                "gymnasium": gym.__version__, "numpy": np.__version__}  # fmt: skip
    (out / "versions.json").write_text(json.dumps(versions, indent=1))
    print(f"{len(episodes)} episodes in {step} steps, {time.perf_counter() - started:.1f} s; wrote {out}")


if __name__ == "__main__":
    main()
