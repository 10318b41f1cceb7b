"""Runs from outside: a PPO of the user's own, judged by the same protocol as ours.

Three ways in, one way out. An external program run by its own command (`command.py`, `runner.py`), or runs that
already exist imported from their logs (`importer.py`), leave their training episodes in a format read here
(`episodes.py`: ppo-bench's episodes.csv, TensorBoard events, SB3 monitor.csv files) and, for the final
evaluation, a policy as an ONNX graph that our evaluator plays (`onnx_policy.py`; `export_onnx.py` writes one
from an SB3 model or one of our runs). What comes out is an ordinary run directory: the workflow and the report
cannot tell it from one of ours; only its run.json's `outside` record (command or source, hashes, whether
ppo-bench evaluated it) says where it came from.
"""
