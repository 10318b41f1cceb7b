"""ppo-bench: a reproducible PPO benchmark and report generator."""

__version__ = "0.1.0"
