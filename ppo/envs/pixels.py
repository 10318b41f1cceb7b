"""Image observations: the standard Atari preprocessing, and the generic one for other image envs.

Atari, every detail in one place ("The 37 implementation details of PPO", Huang et al. 2022, its Atari part;
Mnih et al. 2015; Machado et al. 2018). Gymnasium's AtariPreprocessing does the first four; the rest are
wrappers here, in this order from the emulator up:

1. No-op starts: up to 30 random no-ops after a reset, so episodes do not all start from one state.
2. Frame skip 4: the action repeats for 4 frames and the rewards are summed (an agent step = 4 frames).
3. Max-pool of the last two frames: the ALE draws some sprites only on alternate frames (flicker).
4. 84x84 grayscale (cv2's INTER_AREA resize): the Nature DQN input; colour adds little and costs 3x.
5. GameScore: the raw score and length of a whole game (all lives, unclipped), put in `info` when the game
   ends. Every reported number is this score; the learner never sees it.
6. Episodic life (training only): a lost life ends the learner's episode (a value target of 0 where the
   game would go on), while the game itself goes on: reset() then only steps a no-op. Evaluation plays
   whole games.
7. Fire on reset, where the game has FIRE (Breakout): the game does not start until FIRE is pressed, and a
   new policy rarely presses it; without it, episodes stall.
8. Reward clipping to its sign (training only): games' score scales differ by orders of magnitude; one
   learning rate and one value scale fit all of them. Evaluation keeps the raw score.
9. Frame stack 4: velocities are visible only across frames. Stacked on axis 0, uint8, (4, 84, 84).

The ALE caps an episode at the frames its registration gives (`max_num_frames_per_episode`: 108,000 for the
NoFrameskip-v4 and v5 ids, 30 minutes of play) and reports it as a truncation; episode_step_cap reads it.
Ids: the `NoFrameskip-v4` ones (no sticky actions: the protocol of the published PPO numbers, docs/usage.md)
or `ALE/<Game>-v5` (sticky actions with probability 0.25, as Machado et al. recommend); for v5 the ALE's own
frame skip is turned off and the skip above is used instead.

Other image envs (CarRacing-v3): steps 4 and 9 only (84x84 grayscale, 4 frames stacked).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, GrayscaleObservation, ResizeObservation

FRAME_SKIP = 4
FRAME_STACK = 4
SCREEN_SIZE = 84
NOOP_MAX = 30
GAME_KEYS = ("game_score", "game_length", "game_truncated")  # what GameScore adds to the info of a game's end


def is_atari_spec(spec: gym.envs.registration.EnvSpec) -> bool:
    return str(spec.entry_point).startswith("ale_py")


def episode_step_cap(spec: gym.envs.registration.EnvSpec) -> int | None:
    """The most agent steps an Atari game can last, from its registration (None: no cap): the ALE's frame cap
    (`max_num_frames_per_episode`; None or 0 is none) or a TimeLimit (`max_episode_steps`, counting emulator steps,
    which are single frames under make_atari), whichever is lower, over FRAME_SKIP. Read, not repeated: a
    registration with another cap (another ale-py, or a user's) would otherwise be misreported."""
    caps = [cap for cap in (spec.kwargs.get("max_num_frames_per_episode"), spec.max_episode_steps) if cap]
    return min(caps) // FRAME_SKIP if caps else None


class GameScore(gym.Wrapper):
    """Adds the whole game's raw score, its length in agent steps and whether the ALE cut it at its frame cap
    to `info` (game_score, game_length, game_truncated) on the step that ends the game. A game can also end
    inside EpisodicLife's or FireReset's reset steps: those wrappers pass its record on in their reset's info
    (ended_game), which a vector env's autoreset step returns as its info."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.score, self.length = 0.0, 0

    def reset(self, **kwargs):
        self.score, self.length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.score += float(reward)
        self.length += 1
        if terminated or truncated:
            info = {**info, "game_score": self.score, "game_length": self.length, "game_truncated": bool(truncated)}
        return obs, reward, terminated, truncated, info


def ended_game(info: dict) -> dict:
    """GameScore's record of the game that ended on the step of this info (empty when none ended)."""
    return {key: info[key] for key in GAME_KEYS if key in info}


class EpisodicLife(gym.Wrapper):
    """A lost life terminates the episode for the learner; reset() starts a new game only when the game is
    over (otherwise it steps one no-op from where the life was lost)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        ended = {}
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game: start a new one, and report the one that ended
                ended = ended_game(info)
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, {**info, **ended}


class FireReset(gym.Wrapper):
    """Press FIRE (then the next action, as the reference wrappers do) after every reset."""

    def reset(self, **kwargs):
        _, info = self.env.reset(**kwargs)
        ended = ended_game(info)  # a game that ended in EpisodicLife's reset step
        for _ in range(3):
            for action in (1, 2):
                obs, _, terminated, truncated, info = self.env.step(action)
                if terminated or truncated:
                    break
            else:
                return obs, {**info, **ended}
            # The episode ended on FIRE or the step after (the frame cap, or a life): keep the ended game's record,
            # lost with this info otherwise (at most one game ends inside one reset), and press FIRE again after the
            # reset; the reference wrappers go on with the next action, and a new game would stall unstarted.
            ended = ended or ended_game(info)
            _, info = self.env.reset(**kwargs)
        return obs, {**info, **ended}  # three episodes ended at FIRE (a cap of a few frames): give up, unstarted


class ClipReward(gym.RewardWrapper):
    """The learner's reward: the sign of the game's (-1, 0 or 1)."""

    def reward(self, reward):
        return float(np.sign(reward))


def make_atari(env_id: str, *, training: bool, render_mode: str | None = None) -> gym.Env:
    """An Atari env with the standard preprocessing; `training` adds episodic life and reward clipping."""
    spec = gym.spec(env_id)
    skip_off = {"frameskip": 1} if spec.kwargs.get("frameskip", 1) != 1 else {}  # v5: our skip, not the ALE's
    env = gym.make(env_id, render_mode=render_mode, **skip_off)
    env = AtariPreprocessing(
        env, noop_max=NOOP_MAX, frame_skip=FRAME_SKIP, screen_size=SCREEN_SIZE, terminal_on_life_loss=False, grayscale_obs=True
    )
    env = GameScore(env)
    if training:
        env = EpisodicLife(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    if training:
        env = ClipReward(env)
    env = FrameStackObservation(env, FRAME_STACK)
    env.metadata = {**env.metadata, "render_fps": 60 // FRAME_SKIP}  # one rendered frame per agent step
    return env


def preprocess_image(env: gym.Env) -> gym.Env:
    """Any other image env: 84x84 grayscale, 4 frames stacked (uint8, (4, 84, 84))."""
    env = GrayscaleObservation(env, keep_dim=False) if env.observation_space.shape[-1] == 3 else env
    env = ResizeObservation(env, (SCREEN_SIZE, SCREEN_SIZE))
    return FrameStackObservation(env, FRAME_STACK)
