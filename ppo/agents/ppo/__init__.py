"""Our PPO agent: the training loop (train.py), the update (update.py), rollout storage and GAE
(buffer.py), the actor-critic (policy.py) and the flat Adam optimizer (optim.py)."""
