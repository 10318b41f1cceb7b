"""Atari: the preprocessing (frame skip, max-pool, episodic life, reward clipping, whole-game scores), uint8
frames in the buffer, the CNN actor-critic, its saved model, a tiny run end to end with its video, determinism,
and the refusal without ale-py."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch

from ppo import envs
from ppo.agents.ppo.buffer import RolloutBuffer
from ppo.agents.ppo.cnn import CnnActorCritic, TorchActor
from ppo.agents.ppo.distributions import Categorical, DiagGaussian, make_distribution
from ppo.agents.ppo.networks import load_policy
from ppo.cli import main
from ppo.envs import EnvError, env_info, make_vec_env, resolve_env_id
from ppo.envs.pixels import make_atari
from ppo.run.directory import MODEL_FORMAT
from ppo.run.log import EvalSettings, Progress, RunLog

ROOT = Path(__file__).resolve().parents[1]
BREAKOUT = "BreakoutNoFrameskip-v4"
SPACE_INVADERS = "SpaceInvadersNoFrameskip-v4"  # rewards of 5 to 200 points: clipping shows
FRAMES = (4, 84, 84)

resolve_env_id(BREAKOUT)  # registers the ALE ids (make_atari expects them registered)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """As a run does (ppo/run/seeding.py): on shared cores, torch's thread pool makes the CNN's orthogonal init
    ~25x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def record_raw_steps(env) -> list:
    """Every emulator step under all the wrappers, as it happens: ("reset",) or (reward, grayscale screen)."""
    ale_env = env.unwrapped
    step, reset = ale_env.step, ale_env.reset
    events = []

    def recorded_step(action):
        out = step(action)
        events.append((float(out[1]), ale_env.ale.getScreenGrayscale().copy()))
        return out

    def recorded_reset(**kwargs):
        events.append(("reset",))
        return reset(**kwargs)

    ale_env.step, ale_env.reset = recorded_step, recorded_reset
    return events


def raw_rewards_since_last_reset(events: list) -> list[float]:
    last_reset = max(i for i, event in enumerate(events) if event == ("reset",))
    return [event[0] for event in events[last_reset + 1 :]]


# --- preprocessing -------------------------------------------------------------------------------------------


def test_one_agent_step_is_four_frames_and_the_newest_frame_is_the_max_of_the_last_two_resized():
    """Frame skip 4 (the ALE's frame number and the emulator's steps both advance by 4) and the flicker max-pool:
    the newest stacked frame is cv2 INTER_AREA 84x84 of max(last raw frame, the one before), not the last frame
    alone (Breakout's moving ball makes the two differ); older frames shift down the stack."""
    env = make_atari(BREAKOUT, training=False)
    events = record_raw_steps(env)
    obs, _ = env.reset(seed=0)
    assert obs.shape == FRAMES and obs.dtype == np.uint8
    ale = env.unwrapped.ale
    rng = np.random.default_rng(0)
    max_differs_from_last = 0
    for _ in range(40):
        frame, n_events, previous = ale.getFrameNumber(), len(events), obs
        obs, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        assert not (terminated or truncated)
        assert obs.shape == FRAMES and obs.dtype == np.uint8
        assert ale.getFrameNumber() - frame == 4 and info["frame_number"] == ale.getFrameNumber()
        assert len(events) - n_events == 4
        last, before = events[-1][1], events[-2][1]
        expected = cv2.resize(np.maximum(last, before), (84, 84), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(obs[-1], expected)
        np.testing.assert_array_equal(obs[:-1], previous[1:])
        max_differs_from_last += not np.array_equal(expected, cv2.resize(last, (84, 84), interpolation=cv2.INTER_AREA))
    assert max_differs_from_last > 0, "no step where the max-pool matters: the test could not see a missing max"
    env.close()


def play_random_game(env, rng, on_episode_end):
    """Random actions until the game is over; on_episode_end(info) is called at every terminated/truncated step
    before the game ends. Returns (rewards the env gave, the info of the game's last step)."""
    rewards = []
    for _ in range(20_000):
        _, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        rewards.append(reward)
        if "game_score" not in info:
            assert not env.unwrapped.ale.game_over()
        if terminated or truncated:
            if env.unwrapped.ale.game_over():
                return rewards, info
            on_episode_end(info)
    pytest.fail("no game over in 20,000 random steps")


def test_training_env_ends_an_episode_per_life_clips_rewards_and_reports_the_raw_whole_game():
    """Training: a lost life terminates the learner's episode while the game goes on (not over, one life fewer, no
    game_score); reset() after it continues the same game (the episode frame number keeps growing, lives stay);
    rewards are clipped to {-1, 0, 1}; at game over, info's game_score is the raw (unclipped) sum of the game's
    rewards, game_length covers at least the agent's steps; the next reset() starts a new game."""
    env = make_atari(SPACE_INVADERS, training=True)
    events = record_raw_steps(env)
    env.reset(seed=0)
    ale = env.unwrapped.ale
    lives_at_start, lives_lost = ale.lives(), []

    def life_lost(info):
        assert "game_score" not in info and not ale.game_over()
        lives, episode_frame = ale.lives(), ale.getEpisodeFrameNumber()
        assert lives < (lives_lost[-1] if lives_lost else lives_at_start)
        env.reset()
        assert ale.getEpisodeFrameNumber() > episode_frame, "reset() after a lost life restarted the game"
        assert ale.lives() == lives
        lives_lost.append(lives)

    rewards, info = play_random_game(env, np.random.default_rng(0), life_lost)
    assert len(lives_lost) == lives_at_start - 1  # every life but the last ended an episode
    assert set(rewards) <= {-1.0, 0.0, 1.0} and 1.0 in rewards
    raw = raw_rewards_since_last_reset(events)
    assert max(raw) > 1  # the clipping had something to clip
    assert info["game_score"] == sum(raw) > sum(rewards)
    agent_steps = len(rewards)
    assert agent_steps <= info["game_length"] <= agent_steps + 3 * lives_at_start  # + the resets' no-op and FIRE steps
    assert info["game_truncated"] is False
    env.reset()
    assert ale.lives() == lives_at_start and ale.getEpisodeFrameNumber() < 200  # a new game: <= 30 no-ops, 2 FIREs
    env.close()


def test_evaluation_env_plays_the_whole_game_with_raw_rewards():
    """Evaluation: lives are lost without ending the episode, rewards are the game's own (some > 1), and the only
    episode end is game over, whose game_score is the sum of the rewards the env returned."""
    env = make_atari(SPACE_INVADERS, training=False)
    env.reset(seed=0)
    ale = env.unwrapped.ale
    lives_at_start = ale.lives()

    def ended_before_game_over(info):
        pytest.fail(f"the evaluation env ended an episode before game over (lives {ale.lives()})")

    rewards, info = play_random_game(env, np.random.default_rng(0), ended_before_game_over)
    assert lives_at_start > 1 and ale.lives() == 0
    assert max(rewards) > 1
    assert info["game_score"] == sum(rewards)
    assert len(rewards) <= info["game_length"] <= len(rewards) + 2  # + the FIRE steps after reset
    env.close()


def raw_actions_after_each_reset(env) -> list[list[int]]:
    """The emulator's actions (one per frame) since each reset, as they happen under all the wrappers."""
    ale_env = env.unwrapped
    step, reset = ale_env.step, ale_env.reset
    actions = []

    def recorded_step(action):
        actions[-1].append(int(action))
        return step(action)

    def recorded_reset(**kwargs):
        actions.append([])
        return reset(**kwargs)

    ale_env.step, ale_env.reset = recorded_step, recorded_reset
    return actions


def test_every_reset_plays_1_to_30_random_no_ops_then_presses_fire():
    """No-op starts: each seed's reset steps the emulator with NOOP a random 1..30 times (many different counts
    over 20 seeds) before anything else; then, Breakout having FIRE, FIRE for one agent step (4 frames)."""
    env = make_atari(BREAKOUT, training=False)
    actions = raw_actions_after_each_reset(env)
    no_ops = []
    for seed in range(20):
        env.reset(seed=seed)
        after_reset = actions[-1]
        first_other = next(i for i, action in enumerate(after_reset) if action != 0)
        no_ops.append(first_other)
        assert after_reset[first_other : first_other + 4] == [1] * 4  # FIRE, repeated over the frame skip
    assert 1 <= min(no_ops) and max(no_ops) <= 30
    assert len(set(no_ops)) >= 10, f"no-op counts {no_ops}: not random starts"
    env.close()


@pytest.mark.parametrize("training", [True, False])
def test_fire_on_reset_starts_every_life_without_the_agent_pressing_fire(training):
    """Breakout waits for FIRE before launching the ball. A policy that never presses it (NOOP only) still loses
    every life within 100 agent steps, the ball missing the still paddle: the first life after the evaluation
    env's reset, and, in training, all five, each after the reset that follows its lost life."""
    env = make_atari(BREAKOUT, training=training)
    env.reset(seed=0)
    ale = env.unwrapped.ale
    for lives_left in range(4, -1, -1) if training else [4]:
        for _ in range(100):
            _, _, terminated, truncated, _ = env.step(0)
            if terminated or truncated or ale.lives() == lives_left:
                break
        assert ale.lives() == lives_left, "the ball was never launched: no FIRE after the reset"
        if training:
            assert terminated and ale.game_over() == (lives_left == 0)
            env.reset()
    env.close()


def capped_breakout(frames: int) -> str:
    """Breakout registered with its frame cap set to `frames` (the ALE's max_num_frames_per_episode)."""
    env_id = f"BreakoutCap{frames}NoFrameskip-v4"
    if env_id not in gym.registry:
        spec = gym.spec(BREAKOUT)
        gym.register(env_id, entry_point=spec.entry_point, kwargs={**spec.kwargs, "max_num_frames_per_episode": frames})
    return env_id


# Breakout, seed 0, NOOP only (the ball launched by FireReset): the first life is lost on agent step 23 at episode
# frame 122; the reset after it plays a no-op (frames 123-126), FIRE (127-130), then RIGHT (131-134).
FIRST_LIFE_LOST_AT_STEP, FIRST_LIFE_LOST_AT_FRAME = 23, 122


@pytest.mark.parametrize("reset_step", [1, 2, 3], ids=["episodic-life-no-op", "fire", "step-after-fire"])
def test_a_game_ending_inside_a_reset_is_reported_and_the_next_game_starts(reset_step):
    """The frame cap lands inside the reset after the first lost life (in its reset_step-th step): reset() reports
    the game that ended (the raw score, its length with every agent step of it, cut by the cap) and starts a new
    game, FIRE pressed. Through the vector env, the autoreset step's infos carry the game to the run's log."""
    cap = FIRST_LIFE_LOST_AT_FRAME + 4 * reset_step - 2  # the middle of that step
    env = make_atari(capped_breakout(cap), training=True)
    env.reset(seed=0)
    ale = env.unwrapped.ale
    for step in range(1, FIRST_LIFE_LOST_AT_STEP + 1):
        _, _, terminated, truncated, info = env.step(0)
        assert (terminated, truncated) == (step == FIRST_LIFE_LOST_AT_STEP, False) and "game_score" not in info
    assert ale.getEpisodeFrameNumber() == FIRST_LIFE_LOST_AT_FRAME and ale.lives() == 4
    _, info = env.reset()
    # 2 agent steps of the first reset's FIRE, the agent's 23, the ones of this reset up to the cap
    assert (info["game_score"], info["game_length"], info["game_truncated"]) == (0.0, 2 + 23 + reset_step, True)
    assert ale.lives() == 5 and 9 <= ale.getEpisodeFrameNumber() <= 38  # a new game: 1-30 no-ops, FIRE, RIGHT
    env.close()

    envs = make_vec_env(capped_breakout(cap), 1)
    envs.reset(seed=0)
    for _ in range(FIRST_LIFE_LOST_AT_STEP):
        _, _, _, _, infos = envs.step(np.zeros(1, dtype=np.int64))
    assert "game_score" not in infos
    _, _, _, _, infos = envs.step(np.zeros(1, dtype=np.int64))  # the autoreset step
    assert infos["_game_score"].tolist() == [True] and infos["game_length"].tolist() == [2 + 23 + reset_step]
    envs.close()


def test_the_frame_cap_is_read_from_the_registration_and_a_capped_game_is_marked_truncated():
    """EnvInfo's cap is the registration's frame cap over the frame skip (27,000 agent steps for the standard ids'
    108,000 frames); a game cut by it ends truncated, not terminated, and says so in game_truncated."""
    assert env_info(BREAKOUT).max_episode_steps == 108_000 // 4
    env_id = capped_breakout(400)
    assert env_info(env_id).max_episode_steps == 100
    env = make_atari(env_id, training=False)
    env.reset(seed=0)
    rng, steps, terminated, truncated = np.random.default_rng(0), 0, False, False
    while not (terminated or truncated) and steps < 100:
        _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        steps += 1
    assert truncated and not terminated and env.unwrapped.ale.getEpisodeFrameNumber() == 400
    assert info["game_truncated"] is True and info["game_length"] == steps + 2  # + the reset's FIRE steps
    env.close()


def test_training_games_cut_by_the_frame_cap_are_marked_in_the_run():
    """The log reads game_truncated: a run lists the episode numbers of its training games cut by the cap (a
    stalled game), and a resumed run keeps the list."""
    log = RunLog(2, None, EvalSettings(every=10**9, episodes=1), Progress(100, "test", enabled=False), whole_games=True)
    ended = {"_game_score": np.array([True, True]), "game_score": np.array([3.0, 0.0]),
             "game_length": np.array([50, 27_000]), "game_truncated": np.array([False, True])}  # fmt: skip
    log.track(np.zeros(2), np.ones(2, bool), np.ones(2, bool), 8, ended)
    log.track(np.zeros(2), np.ones(2, bool), np.ones(2, bool), 16, {**ended, "game_truncated": np.array([True, False])})
    assert [row[4] for row in log.result.episodes] == [50, 27_000, 50, 27_000] and log.result.capped_games == [1, 2]
    resumed = RunLog(2, None, EvalSettings(every=10**9, episodes=1), Progress(100, "t", enabled=False), whole_games=True)
    resumed.load_state_dict(log.state_dict())
    assert resumed.result.capped_games == [1, 2]
    other = RunLog(2, None, EvalSettings(every=10**9, episodes=1), Progress(100, "test", enabled=False))
    assert other.result.capped_games is None  # not a game: nothing is claimed either way


# --- storage and network ---------------------------------------------------------------------------------------


def test_buffer_keeps_frames_as_uint8_and_returns_the_valid_ones_unchanged_in_step_major_order():
    n_steps, n_envs = 5, 3
    buffer = RolloutBuffer(n_steps, n_envs, FRAMES, obs_dtype=torch.uint8)
    assert buffer.obs.dtype == torch.uint8
    assert buffer.obs.element_size() * buffer.obs.nelement() == n_steps * n_envs * 4 * 84 * 84
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n_steps, n_envs, *FRAMES), dtype=np.uint8)
    valid = np.ones((n_steps, n_envs), dtype=bool)
    valid[2, 1] = valid[4, 0] = False  # autoreset steps
    for t in range(n_steps):
        zeros = np.zeros(n_envs, dtype=np.float32)
        buffer.add(frames[t], np.zeros(n_envs, np.int64), zeros, zeros, zeros + 1, zeros > 0, zeros > 0, valid[t])
    buffer.compute_returns_and_advantage(np.zeros(n_envs), gamma=0.99, gae_lambda=0.95)
    batch = buffer.get()
    assert batch.obs.dtype == torch.uint8 and batch.obs.shape == (valid.sum(), *FRAMES)
    np.testing.assert_array_equal(batch.obs.numpy(), frames[valid])  # boolean indexing is step-major


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *FRAMES), dtype=np.uint8)


def categorical_cnn(seed: int = 0) -> CnnActorCritic:
    """A CNN with clearly unequal action probabilities (the 0.01-gain head would make them all ~1/4)."""
    torch.manual_seed(seed)
    policy = CnnActorCritic(FRAMES, Categorical(4))
    with torch.no_grad():
        policy.policy_head.weight.mul_(100.0)
    return policy


def test_cnn_shapes_log_probs_and_entropy_match_torch_categorical():
    policy = categorical_cnn()
    obs = torch.from_numpy(frames(6))
    logits, values = policy(obs)
    assert logits.shape == (6, 4) and values.shape == (6,)
    actions = torch.tensor([0, 1, 2, 3, 1, 2])
    evaluation = policy.evaluate_actions(obs, actions)
    reference = torch.distributions.Categorical(logits=logits)
    assert reference.probs.max() > 0.3  # unequal probabilities: a wrong gather would show
    torch.testing.assert_close(evaluation.log_probs, reference.log_prob(actions))
    torch.testing.assert_close(evaluation.entropy, reference.entropy())
    torch.testing.assert_close(evaluation.values, values)


def test_cnn_scales_uint8_pixels_to_0_1_inside_the_network():
    """The network takes raw bytes: its output is the heads on trunk(pixels / 255), and black and white screens
    give different outputs; the actor feeds the frames unconverted."""
    policy = categorical_cnn()
    obs = torch.from_numpy(frames(3))
    logits, values = policy(obs)
    with torch.no_grad():
        features = policy.trunk(obs.float() / 255.0)
        torch.testing.assert_close(logits, policy.policy_head(features))
        torch.testing.assert_close(values, policy.value_head(features).squeeze(-1))
        black, white = torch.zeros(1, *FRAMES, dtype=torch.uint8), torch.full((1, *FRAMES), 255, dtype=torch.uint8)
        assert not torch.allclose(policy(black)[1], policy(white)[1])
    raw = frames(2)
    assert TorchActor(policy).normalize(raw).dtype == np.uint8


def test_torch_actor_samples_reproducibly_with_log_probs_of_the_network():
    policy = categorical_cnn()
    obs = frames(64)
    step = TorchActor(policy, seed=3).act(obs)
    assert step.actions.shape == (64,) and step.log_probs.shape == (64,) and step.values.shape == (64,)
    with torch.no_grad():
        evaluation = policy.evaluate_actions(torch.from_numpy(obs), torch.from_numpy(step.actions))
    np.testing.assert_allclose(step.log_probs, evaluation.log_probs.numpy(), atol=1e-5)
    np.testing.assert_allclose(step.values, evaluation.values.numpy(), atol=1e-5)
    np.testing.assert_array_equal(step.actions, TorchActor(policy, seed=3).act(obs).actions)
    assert not np.array_equal(step.actions, TorchActor(policy, seed=4).act(obs).actions)


def test_cnn_with_a_gaussian_head_matches_torch_normal():
    """Continuous actions on the same trunk (CarRacing): means (B, d), a learnable log std, log-probs summed over
    dimensions and entropy as torch's Normal; the actor's log-probs are the network's."""
    torch.manual_seed(0)
    policy = CnnActorCritic(FRAMES, DiagGaussian(3, -np.ones(3), np.ones(3)), log_std_init=-0.5)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([-0.5, 0.0, 0.3]))
    obs = frames(5)
    mean, values = policy(torch.from_numpy(obs))
    assert mean.shape == (5, 3) and values.shape == (5,)
    actions = torch.randn(5, 3)
    evaluation = policy.evaluate_actions(torch.from_numpy(obs), actions)
    reference = torch.distributions.Normal(mean, policy.log_std.exp())
    torch.testing.assert_close(evaluation.log_probs, reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(torch.broadcast_to(evaluation.entropy, (5,)), reference.entropy().sum(-1))
    step = TorchActor(policy, seed=0).act(obs)
    assert step.actions.shape == (5, 3)
    with torch.no_grad():
        sampled = policy.evaluate_actions(torch.from_numpy(obs), torch.from_numpy(step.actions))
    np.testing.assert_allclose(step.log_probs, sampled.log_probs.numpy(), atol=1e-4)


def test_saved_cnn_loads_with_identical_outputs_and_is_refused_for_another_action_space(tmp_path):
    info = env_info(BREAKOUT)
    assert info.pixels and info.atari and info.obs_shape == FRAMES and info.evaluation_policy == "stochastic"
    torch.manual_seed(0)
    policy = CnnActorCritic(info.obs_shape, make_distribution(info))
    torch.save({"format": MODEL_FORMAT, **policy.saved(info)}, tmp_path / "model.pt")
    loaded = load_policy(tmp_path, info)
    assert isinstance(loaded, CnnActorCritic)
    obs = torch.from_numpy(frames(4))
    with torch.no_grad():
        for a, b in zip(policy(obs), loaded(obs)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.manual_seed(1)  # a network that did not load the weights would differ
        assert not torch.allclose(CnnActorCritic(info.obs_shape, make_distribution(info))(obs)[1], loaded(obs)[1])
    other = env_info(SPACE_INVADERS)
    assert other.n_actions == 6
    with pytest.raises(ValueError) as err:
        load_policy(tmp_path, other)
    assert BREAKOUT in str(err.value) and SPACE_INVADERS in str(err.value)


# --- refusal -----------------------------------------------------------------------------------------------------


def test_atari_id_without_ale_py_is_refused_in_one_line_naming_the_install(monkeypatch, tmp_path, capsys):
    find_spec = importlib.util.find_spec

    def without_ale_py(name, *args, **kwargs):
        return None if name == "ale_py" else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_ale_py)
    envs.env_info.cache_clear()
    for look_up in (resolve_env_id, env_info):
        with pytest.raises(EnvError) as err:
            look_up("ALE/Pong-v5")
        message = str(err.value)
        assert "pip install" in message and "ALE/Pong-v5" in message and "\n" not in message
    out = tmp_path / "run"
    args = ["train", "--env", "ALE/Pong-v5", "--agent", "ppo", "--seed", "0", "--quiet", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install" in err and len(err.splitlines()) == 1
    assert not out.exists()


# --- end to end --------------------------------------------------------------------------------------------------


def train(out: Path, seed: int) -> Path:
    """A tiny Atari run of the CLI: 2048 agent steps (8 envs x 128 steps, two updates), evaluations of one game."""
    command = [sys.executable, "-m", "ppo", "train", "--env", BREAKOUT, "--agent", "ppo", "--seed", str(seed)]
    command += ["--total-timesteps", "2048", "--set", "n_steps=128", "--eval-every", "1024"]
    command += ["--eval-episodes", "1", "--final-eval-episodes", "1", "--quiet", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def seed0_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("atari") / "run", seed=0)


def logs(run: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """episodes.csv and evals.csv without their wall-clock columns."""
    return tuple(pd.read_csv(run / name).drop(columns="wall_s") for name in ("episodes.csv", "evals.csv"))


@pytest.mark.slow
def test_tiny_atari_run_logs_whole_games_and_records_an_rgb_video(seed0_run, tmp_path):
    """run.json says evaluations play the stochastic policy; episodes.csv holds whole games (a Breakout life that
    misses at once lasts ~25 agent steps; a game of five such lives ~125), evals.csv has the truncated column;
    the rollout command writes an MP4 and a GIF of the real screen (RGB, larger than 84x84, in colour) covering
    the whole evaluation game."""
    run = json.loads((seed0_run / "run.json").read_text())
    assert run["evaluation"]["policy"] == "stochastic"
    assert run["final_eval"]["episodes"] == 1 and "truncated_episodes" in run["final_eval"]
    episodes, evals = logs(seed0_run)
    assert len(episodes) >= 1 and episodes["length"].min() >= 100
    assert "truncated" in evals.columns and not evals["truncated"].any()
    assert (evals["length"] >= 100).all()

    media = tmp_path / "media"
    command = [sys.executable, "-m", "ppo", "rollout", "--env", BREAKOUT, "--agent", "ppo"]
    command += ["--runs", str(seed0_run), "--out", str(media)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    caption = json.loads((media / "ppo.json").read_text())
    assert caption["length"] >= 100  # a whole game, not one life
    video = iio.imread(media / "ppo.mp4", index=None)
    gif = iio.imread(media / "ppo.gif", index=None)
    for clip in (video, gif):
        assert clip.ndim == 4 and clip.shape[-1] == 3
        assert clip.shape[1] > 84 and clip.shape[2] > 84
        assert np.abs(clip[..., 0].astype(int) - clip[..., 1]).mean() > 1  # colour, not grey copied to 3 channels
    assert video.shape[1] >= 2 * 210 and video.shape[2] >= 2 * 160  # the 210x160 screen, doubled
    assert len(video) == caption["length"] + 1  # the first frame, then one per agent step


@pytest.mark.slow
def test_atari_training_is_deterministic_per_seed(seed0_run, tmp_path):
    """Same seed: identical training games and evaluations (returns, lengths, steps); another seed: different."""
    episodes, evals = logs(seed0_run)
    again_episodes, again_evals = logs(train(tmp_path / "again", seed=0))
    pd.testing.assert_frame_equal(episodes, again_episodes)
    pd.testing.assert_frame_equal(evals, again_evals)
    other_episodes, _ = logs(train(tmp_path / "other", seed=1))
    assert not episodes[["return", "length"]].equals(other_episodes[["return", "length"]])
