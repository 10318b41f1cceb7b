import torch

from ppo.agents.ppo.optim import FlatAdam
from ppo.agents.ppo.policy import ActorCritic


def loss_of(policy: ActorCritic, obs: torch.Tensor) -> torch.Tensor:
    log_pi, values = policy(obs)
    return (log_pi[:, 0] * values).mean() + values.square().mean()


def test_flat_adam_matches_torch_adam_step_for_step():
    torch.manual_seed(0)
    ours, reference = ActorCritic(4, 3), ActorCritic(4, 3)
    reference.load_state_dict(ours.state_dict())
    flat = FlatAdam(ours.flat_parameters, ours.flat_gradient, lr=1e-2, eps=1e-5)
    torch_adam = torch.optim.Adam(reference.parameters(), lr=1e-2, eps=1e-5, fused=True)
    before = {name: value.clone() for name, value in ours.state_dict().items()}
    for step in range(5):
        obs = torch.randn(32, 4)
        flat.lr = torch_adam.param_groups[0]["lr"] = 1e-2 * (1 - step / 5)  # annealing, as in training
        flat.zero_grad()
        loss_of(ours, obs).backward()
        flat.step()
        torch_adam.zero_grad()
        loss_of(reference, obs).backward()
        torch_adam.step()
    # Every parameter moved from where it started (agreeing with torch proves nothing if neither stepped) ...
    for name, value in ours.state_dict().items():
        assert not torch.allclose(value, before[name], rtol=0, atol=1e-4), f"{name} did not move"
    # ... and to where torch's Adam moved it.
    for (name, a), b in zip(ours.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(a, b, rtol=0, atol=1e-7), name


def test_gradients_land_in_the_flat_gradient_and_clipping_matches_torch():
    torch.manual_seed(1)
    policy = ActorCritic(4, 2)
    reference = ActorCritic(4, 2)
    reference.load_state_dict(policy.state_dict())
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=1e-3)
    obs = torch.randn(16, 4) * 10
    optimizer.zero_grad()
    (100 * loss_of(policy, obs)).backward()
    assert optimizer.grad.abs().sum() > 0
    (100 * loss_of(reference, obs)).backward()
    expected_norm = torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 0.5)
    norm = optimizer.clip_grad_norm_(0.5)
    assert torch.allclose(norm, expected_norm) and norm > 0.5
    assert torch.allclose(torch.linalg.vector_norm(optimizer.grad), torch.tensor(0.5), atol=1e-5)
    clipped = torch.cat([p.grad.reshape(-1) for p in reference.parameters()])
    assert torch.allclose(optimizer.grad, clipped, atol=1e-7)
    # a second backward after zero_grad does not accumulate the first one's gradient
    optimizer.zero_grad()
    loss_of(policy, obs).backward()
    assert torch.allclose(torch.linalg.vector_norm(optimizer.grad), expected_norm / 100, rtol=1e-4)


def test_a_restored_optimizer_goes_on_as_the_uninterrupted_one():
    """state_dict -> load_state_dict between eager steps: the step count (a Python int, with the tensor the fused
    kernel reads) and the moments carry over, so the next steps are bitwise those of a run never interrupted."""
    torch.manual_seed(0)
    obs = torch.randn(32, 4)

    def steps(policy, optimizer, n):
        for _ in range(n):
            optimizer.zero_grad()
            loss_of(policy, obs).backward()
            optimizer.step()

    policy = ActorCritic(4, 2)
    optimizer = FlatAdam(policy.flat_parameters, policy.flat_gradient, lr=0.01)
    restored = ActorCritic(4, 2)
    restored.load_state_dict(policy.state_dict())
    steps(policy, optimizer, 3)
    saved_policy, saved_optimizer = ({k: v.clone() for k, v in policy.state_dict().items()}, optimizer.state_dict())
    steps(policy, optimizer, 3)  # uninterrupted: steps 4-6
    restored.load_state_dict(saved_policy)
    restored_optimizer = FlatAdam(restored.flat_parameters, restored.flat_gradient, lr=0.01)
    restored_optimizer.load_state_dict(saved_optimizer)
    assert restored_optimizer.step_count == 3
    steps(restored, restored_optimizer, 3)  # resumed: steps 4-6, bias corrections of t = 4..6
    assert torch.equal(restored.flat_parameters, policy.flat_parameters) and restored_optimizer.step_count == 6
