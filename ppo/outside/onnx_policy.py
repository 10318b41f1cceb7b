"""A policy from outside as an ONNX graph, checked against the env and played by our evaluator.

The contract (docs/bring-your-own.md states it for users):
- one input: a batch of observations as the env returns them, shape (batch, *obs_shape); normalization, if
  any, happens inside the graph. Element type float32 or float64 for vector observations (we cast the env's
  observations to it), uint8 or float32 for image frame stacks (raw 0..255 values: the graph scales them). The
  batch axis is dynamic (a name, or unknown) or exactly 1; a graph fixed at 1 is called once per observation.
- one output: for a Discrete(n) env either float logits (batch, n), or an integer action index (batch,) or
  (batch, 1) in 0..n-1; for a Box env the float action (batch, action_dim), which we clip to the bounds as
  we do for every agent.

The graph is checked before it plays: its declared input and output against the env (load_onnx_policy), then
one probe call on real reset observations (a batch of two when the batch axis is dynamic), which catches
what a declaration cannot say (dimensions left symbolic, a graph that fails at run time or answers NaN).
Every refusal is a ValueError of one line naming the file, what was found and what was expected; an output
holding NaN is refused on every call, not only at the probe.

Evaluation follows the rule of every agent (EnvInfo.evaluation_policy): greedy on vector observations (the
argmax of the logits, the index as given, the action as given), stochastic on pixels, where logits are
sampled with a generator seeded from the run's seed exactly as our PPO's evaluation actor seeds its own. A
graph that outputs an index or a continuous action is played as it is on pixels too: the contract gives no
distribution to sample from, so whatever sampling the graph does inside is its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ppo.agents.ppo.distributions import make_distribution
from ppo.envs import EVAL_SEED_BASE, EnvInfo, make_env
from ppo.run.evaluate import PolicyFn

POLICY_FILE = "policy.onnx"  # what an outside run leaves in its run directory, unless its entry names another path

# ONNX element types (as onnxruntime names them) -> NumPy dtypes we accept, by observation kind.
_FLOATS = {"tensor(float)": np.float32, "tensor(double)": np.float64}
_INTEGERS = {f"tensor({t})": np.dtype(t) for t in ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8")}
_IMAGE_INPUTS = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32}


def shape_text(shape) -> str:
    """A declared or actual shape as users read it: (batch, 4); a dynamic dimension by its name, '?' if unnamed."""
    dims = [str(d) if isinstance(d, int | np.integer) else (d or "?") for d in shape]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


def _dynamic(dim) -> bool:
    """onnxruntime reports a dynamic dimension as its symbolic name (a str) or None."""
    return not isinstance(dim, int)


class GraphError(ValueError):
    """onnxruntime failed running the graph on a batch (one line; `reason` is onnxruntime's first line)."""

    def __init__(self, path: Path, obs: np.ndarray, reason: str):
        super().__init__(f"{path} fails on observations {shape_text(obs.shape)} {obs.dtype}: {reason}")
        self.reason = reason


class OnnxPolicy:
    """An ONNX graph that fits the env: `outputs(obs)` answers a batch of raw observations with the graph's
    checked output (logits, indices or actions); `kind` says which ('logits', 'index' or 'action')."""

    def __init__(self, path: str | Path, info: EnvInfo):
        import onnxruntime as ort  # here: importing the package must not load onnxruntime

        self.path, self.info = Path(path), info
        self.distribution = make_distribution(info)  # its to_env clips actions, its sample draws from logits
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} is missing: the run left no ONNX policy to evaluate")
        options = ort.SessionOptions()
        # One thread, as every job runs: onnxruntime otherwise starts a thread per core in every job.
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: its warnings would fill every evaluation job's log
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # not ONNX, a truncated file, an operator this onnxruntime lacks
            raise ValueError(f"{self.path} is not a readable ONNX graph: {_first_line(err)}") from None
        self._check_signature()
        self._probe()

    # -- the declared signature -------------------------------------------------------------------------------

    def _check_signature(self) -> None:
        info, inputs, outputs = self.info, self.session.get_inputs(), self.session.get_outputs()
        expected_in = shape_text(("batch", *info.obs_shape))
        if len(inputs) != 1:
            raise ValueError(
                f"{self.path} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); expected one: "
                f"observations {expected_in}"
            )
        if len(outputs) != 1:
            raise ValueError(
                f"{self.path} has {len(outputs)} outputs ({', '.join(o.name for o in outputs)}); expected one: "
                f"{self._expected_output()}"
            )
        (graph_in,), (graph_out,) = inputs, outputs
        self.input_name, self.output_name = graph_in.name, graph_out.name

        shape = list(graph_in.shape)
        fits = len(shape) == 1 + len(info.obs_shape) and all(
            _dynamic(found) or found == wanted for found, wanted in zip(shape[1:], info.obs_shape)
        )
        if not fits or not (_dynamic(shape[0]) or shape[0] == 1):
            raise ValueError(
                f"{self.path} takes input {shape_text(shape)}; {info.env_id} needs {expected_in} (the batch axis dynamic or 1)"
            )
        self.batch_of_one = shape[0] == 1
        allowed = _IMAGE_INPUTS if info.pixels else _FLOATS
        if graph_in.type not in allowed:
            raise ValueError(
                f"{self.path} takes {graph_in.type} observations; {info.env_id} needs one of {', '.join(allowed)}"
            )
        self.input_dtype = allowed[graph_in.type]

        self.kind = self._output_kind(graph_out.type, list(graph_out.shape))

    def _expected_output(self) -> str:
        info = self.info
        if info.continuous:
            return f"float actions (batch, {info.action_dim})"
        return f"float logits (batch, {info.n_actions}) or an integer action index (batch,) or (batch, 1)"

    def _output_kind(self, element: str, shape: list) -> str:
        """'logits', 'index' or 'action', from the declared output; ValueError when it cannot fit the env."""
        info = self.info
        last = shape[-1] if shape else None
        width = info.action_dim if info.continuous else info.n_actions
        if element in _FLOATS and len(shape) == 2 and (_dynamic(last) or last == width):
            return "action" if info.continuous else "logits"
        # An index: (batch,) or (batch, 1); a last axis left dynamic is checked by the probe.
        index_shape = len(shape) == 1 or (len(shape) == 2 and (_dynamic(last) or last == 1))
        if not info.continuous and element in _INTEGERS and index_shape:
            return "index"
        raise ValueError(
            f"{self.path} outputs {element} {shape_text(shape)}; {info.env_id} ({info.action_text}) needs "
            f"{self._expected_output()}"
        )

    # -- acting -------------------------------------------------------------------------------------------

    def _run(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs).astype(self.input_dtype, copy=False)
        if self.batch_of_one and len(obs) != 1:
            return np.concatenate([self._run(row[None]) for row in obs])
        try:
            return self.session.run([self.output_name], {self.input_name: obs})[0]
        except Exception as err:  # a graph failing inside on some state: one line, not onnxruntime's report
            raise GraphError(self.path, obs, _first_line(err)) from None

    def outputs(self, obs: np.ndarray) -> np.ndarray:
        """The graph's answer to a batch of raw observations (n, *obs_shape), checked: logits (n, n_actions)
        float, indices (n,) int64 in 0..n_actions-1, or actions (n, action_dim) float (unclipped)."""
        out = np.asarray(self._run(obs))
        n, info = len(obs), self.info
        if self.kind == "index":
            if out.shape not in ((n,), (n, 1)):
                raise ValueError(f"{self.path} returned shape {shape_text(out.shape)}; expected ({n},) or ({n}, 1)")
            out = out.reshape(n).astype(np.int64)
            bad = out[(out < 0) | (out >= info.n_actions)]
            if bad.size:
                raise ValueError(f"{self.path} returned action {bad[0]}; {info.env_id} allows 0..{info.n_actions - 1}")
            return out
        width = info.action_dim if info.continuous else info.n_actions
        if out.shape != (n, width):
            raise ValueError(f"{self.path} returned shape {shape_text(out.shape)}; expected ({n}, {width})")
        if np.isnan(out).any():
            raise ValueError(f"{self.path} returned NaN for {np.isnan(out).any(-1).sum()} of {n} observations")
        return out

    def _probe(self) -> None:
        """One call on real reset observations of the env (the first evaluation seeds), before any episode."""
        env = make_env(self.info.env_id)
        try:
            obs = np.stack([env.reset(seed=EVAL_SEED_BASE + k)[0] for k in range(1 if self.batch_of_one else 2)])
        finally:
            env.close()
        try:
            self.outputs(obs)
        except GraphError as err:  # onnxruntime refusing the input (dimensions left dynamic), a graph failing inside
            raise ValueError(
                f"{self.path} fails on {self.info.env_id}'s reset observations {shape_text(obs.shape)} "
                f"{obs.dtype}: {err.reason}"
            ) from None

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic policy: argmax of the logits, the index or the action (clipped to the bounds)."""
        out = self.outputs(obs)
        if self.kind == "logits":
            return out.argmax(-1)
        return self.distribution.to_env(out.astype(np.float32)) if self.info.continuous else out

    def sampler(self, seed: int) -> PolicyFn:
        """The stochastic policy: actions sampled from the logits with a generator of its own; an index or an
        action graph is played as it is (the contract gives no distribution to sample)."""
        if self.kind != "logits":
            return self.greedy
        rng = np.random.default_rng(seed)

        def sampled(obs: np.ndarray) -> np.ndarray:
            logits = self.outputs(obs).astype(np.float32)  # sample() overwrites its logits: a copy
            return self.distribution.sample(logits, None, rng)[0]

        return sampled


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_onnx_policy(path: str | Path, info: EnvInfo) -> OnnxPolicy:
    """The ONNX policy at `path`, checked against the env `info` describes (declared signature, then one probe call
    on reset observations). FileNotFoundError if missing; ValueError, one line, for anything that does not fit."""
    return OnnxPolicy(path, info)


def evaluation_seed(seed: int) -> int:
    """The evaluation generator's seed for a run's seed, as our PPO derives its evaluation actor's
    (ppo/agents/ppo/networks.py: evaluation_actor), so the two sample alike from equal logits."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])


def onnx_evaluation_policy(path: str | Path, info: EnvInfo, seed: int = 0) -> PolicyFn:
    """The policy evaluations and videos play from the ONNX file at `path` (info.evaluation_policy)."""
    policy = load_onnx_policy(path, info)
    return policy.sampler(evaluation_seed(seed)) if info.evaluation_policy == "stochastic" else policy.greedy


def saved_evaluation_policy(run_dir: str | Path, info: EnvInfo, seed: int = 0) -> PolicyFn:
    """The registry's `actor` form ("ppo.outside.onnx_policy:saved_evaluation_policy"): run_dir/policy.onnx."""
    return onnx_evaluation_policy(Path(run_dir) / POLICY_FILE, info, seed)
