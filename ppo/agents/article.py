"""ppo-article-as-written: the article's PPO as its listing shows it (docs/article.md), run by our loop.

Each departure from a correct PPO is an ablation switch (ppo/config.py) set the way the listing has it.
Line numbers (l.) are those of the plain-text copy of the article the project worked from, which is not in the
repository; docs/article.md is the repository's account of the article and of these departures:

- One environment copy (l. 248 `env = gym.make(...)`, one `env.step` per step, l. 267): n_envs=1.
- No shuffling (l. 136-138): get_batch says "Create and shuffle indices" but only builds `np.arange(n_states)`;
  minibatches run in time order: shuffle_minibatches=False.
- Truncation treated as termination (l. 269 and 337, `done = done or trun`): the time limit's V(final obs) is
  dropped: bootstrap_truncation=False.
- No bootstrap at the horizon's end (l. 205, `for t in range(len(rew) - 1)`): the last step keeps advantage 0
  and the step before bootstraps from the last stored value: bootstrap_rollout_end=False.
- The GAE sum runs on across episode ends (l. 211-215): `discount` is never reset at `done[k]`; only the
  value bootstrap `val[k + 1] * (1.0 - done[k])` is masked: gae_episode_boundaries=False.
- No advantage normalization (l. 224-236, raw `advantage_b`): normalize_advantage=False.
- No entropy bonus (l. 242, the loss is `-min(...)`): ent_coef=0.
- No gradient clipping (l. 245, "Take a step of the optimizer"; nothing clips): max_grad_norm=None.
- PyTorch's default init (l. 151-154, 162-165, plain nn.Linear): ortho_init=False.
- PyTorch's Adam epsilon (l. 155, 166, `torch.optim.Adam(self.parameters(), lr=lr)`): adam_eps=1e-8.
- Actor and critic with separate Adam optimizers and an unscaled value loss (l. 155, 166, 244): vf_coef=1.0
  in one Adam. The networks share no parameter, Adam is per-parameter and nothing couples the two (no
  clipping), so one Adam over both with the value loss at weight 1 takes exactly the two optimizers' steps.
- The article's settings: horizon 256 x 300 iterations on CartPole-v1 (l. 256-257), 512 x 500 and clip 0.15
  on LunarLander (l. 323-325); 3 epochs of minibatch 16 and lr 3e-4 (l. 254, 323); gamma 0.999 and lambda 0.95
  (l. 171); 256-256 networks (l. 151-154, 162-165).
- Activation: unknown. The listing lost lines (its `super().__init__()` calls are missing too) and its
  Sequential has no activation between the Linear layers; ReLU is assumed here, and the listing as printed
  (a linear network) is the variant `activation: identity` (config/article-ablation.yaml).

Not switched, because the listing is ambiguous: `critic_loss = ((returns - critic_pred)**2).mean()` (l. 244)
with a critic output of shape (B, 1) against returns of shape (B,) would broadcast to (B, B) and regress every
value to the batch mean; the lost line may have squeezed it. Our loop uses the (B,) value.
"""

from __future__ import annotations

from ppo.agents.presets import ARTICLE, Table

# The correct-implementation preset (ppo-article) with every departure above switched on.
_AS_WRITTEN = dict(
    ortho_init=False,
    adam_eps=1e-8,
    vf_coef=1.0,
    shuffle_minibatches=False,
    bootstrap_truncation=False,
    bootstrap_rollout_end=False,
    gae_episode_boundaries=False,
)
AS_WRITTEN: Table = {env: dict(settings, **_AS_WRITTEN) for env, settings in ARTICLE.items()}
