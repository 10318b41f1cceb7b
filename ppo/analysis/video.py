"""Recording one evaluation episode of an agent as MP4 (H.264, for HTML) and GIF (for Markdown) with imageio.

Rendering is headless (`rgb_array`; pygame gets SDL_VIDEODRIVER=dummy). The episode starts from the
first fixed evaluation seed, played by the policy evaluation scores: greedy, so the recording is one of the
episodes the final evaluation scored; on pixels stochastic, so it is a game from the same start, not
necessarily one the evaluation played (its samples differ). Image envs are recorded from the real screen
(Atari's 210x160 RGB, doubled), not from the 84x84 grayscale frames the network sees.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
from PIL import Image

from ppo.agents import Agent, player
from ppo.envs import EVAL_SEED_BASE, env_info, make_env
from ppo.run.atomic import atomic_path, write_json
from ppo.run.directory import read_run_json
from ppo.run.evaluate import PolicyFn

# Frames one recording keeps at most (Atari's doubled screens are ~400 KB each): past it, every other is dropped.
MAX_FRAMES = 2000
# (scale, keep every n-th frame) tried in order until the GIF fits the size limit.
_GIF_LADDER = [(0.5, 2), (0.5, 3), (0.4, 4), (0.33, 5), (0.25, 6), (0.2, 8), (0.15, 12)]


@dataclass(frozen=True)
class Recording:
    frames: list[np.ndarray]
    episode_return: float
    length: int
    fps: int


def frame_step(env: gym.Env) -> int:
    """Keep every n-th frame. MuJoCo renders in software here (EGL through Mesa, a few dozen 480x480 frames
    per second), so its episodes keep at most about 300 frames at no more than ~30 frames per second of
    video; the classic Box2D and pygame envs render fast and keep every frame."""
    if not hasattr(env.unwrapped, "mujoco_renderer"):
        return 1
    fps = env.metadata.get("render_fps", 30)
    max_steps = env.spec.max_episode_steps if env.spec is not None and env.spec.max_episode_steps else 1000
    return max(1, round(fps / 30), math.ceil(max_steps / 300))


def record_episode(env_id: str, act: PolicyFn) -> Recording:
    """One episode from the first evaluation seed, rendering only the frames kept (frame_step)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame without a display
    env = make_env(env_id, render_mode="rgb_array")  # what evaluation plays (Atari: the whole game)
    keep_every = frame_step(env)
    obs, _ = env.reset(seed=EVAL_SEED_BASE)
    frames, total, length, done = [video_frame(env.render())], 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(act(obs[None])[0])
        total += float(reward)
        length += 1
        done = terminated or truncated
        if length % keep_every == 0 or done:
            frames.append(video_frame(env.render()))
            if len(frames) > MAX_FRAMES:  # a long game (Atari's can run 27,000 steps): halve the frame rate kept
                frames, keep_every = frames[::2], keep_every * 2
    fps = max(1, round(env.metadata.get("render_fps", 30) / keep_every))
    env.close()
    return Recording(frames, total, length, fps)


def video_frame(frame: np.ndarray) -> np.ndarray:
    """A rendered frame as the video keeps it: small screens (Atari's 210x160) doubled, so a browser does not
    blur them, and every side padded with black to a multiple of 8 (H.264's macro block: imageio would
    otherwise resize, i.e. blur, every frame)."""
    if frame.shape[0] < 300:
        frame = frame.repeat(2, axis=0).repeat(2, axis=1)
    pad = [(0, -n % 8) for n in frame.shape[:2]] + [(0, 0)]
    return np.pad(frame, pad) if any(after for _, after in pad) else frame


def agent_policy(env_id: str, agent: Agent, run_dir: str | Path, seed: int) -> PolicyFn:
    """The evaluation policy of a finished run (uniform random actions for the random agent)."""
    return agent.evaluation_policy(run_dir, env_info(env_id), seed)


def write_mp4(path: str | Path, recording: Recording) -> None:
    """H.264 with yuv420p pixels: the combination browsers play. Frame sides are multiples of 8 (video_frame),
    so no resizing happens."""
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(
            tmp, format="FFMPEG", fps=recording.fps, codec="libx264", pixelformat="yuv420p", macro_block_size=8
        )
        for frame in recording.frames:
            writer.append_data(frame)
        writer.close()


def write_gif(path: str | Path, recording: Recording, max_bytes: int) -> tuple[float, int]:
    """Downscale and skip frames until the GIF fits in max_bytes; returns the (scale, step) used."""
    for scale, step in _GIF_LADDER:
        height, width = recording.frames[0].shape[:2]
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        frames = [np.asarray(Image.fromarray(f).resize(size, Image.BILINEAR)) for f in recording.frames[::step]]
        data = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000 * step / recording.fps, loop=0)
        if len(data) <= max_bytes:
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
            return scale, step
    raise ValueError(f"cannot fit {len(recording.frames)} frames into a GIF of {max_bytes} bytes")


def write_rollout(env_id: str, agent: str, run_dirs: list[str | Path], out_dir: str | Path, max_gif_mb: float) -> dict:
    """Record the median seed's agent (ranked by final evaluation mean) as {agent}.mp4, {agent}.gif and
    {agent}.json (the caption's facts) in out_dir."""
    finals, bases = {}, {}
    for run_dir in map(Path, run_dirs):
        run = read_run_json(run_dir)
        bases[player(run).name] = player(run)  # a variant is played by its base agent, a run from outside by the ONNX player
        if (run["env"], run["agent"]) != (env_id, agent):
            raise ValueError(f"{run_dir} holds a run of {run['agent']} on {run['env']}, not {agent} on {env_id}")
        finals[run_dir] = (run["final_eval"]["mean_return"], run["seed"])
    ranked = sorted(finals, key=lambda d: finals[d])
    run_dir = ranked[(len(ranked) - 1) // 2]
    seed = finals[run_dir][1]
    recording = record_episode(env_id, agent_policy(env_id, bases.popitem()[1], run_dir, seed))
    out = Path(out_dir)
    write_mp4(out / f"{agent}.mp4", recording)
    scale, step = write_gif(out / f"{agent}.gif", recording, int(max_gif_mb * 2**20))
    caption = {
        "env": env_id,
        "agent": agent,
        "seed": seed,
        "episode_seed": EVAL_SEED_BASE,
        "return": recording.episode_return,
        "length": recording.length,
        "fps": recording.fps,
        "gif_scale": scale,
        "gif_frame_step": step,
    }
    write_json(out / f"{agent}.json", caption)
    return caption
