"""The linearized model: equal at θ_t, exactly affine in θ, gradient Jᵀg, trainable by the SGD recipe."""

import torch

from tests.conftest import tiny_config
from twophase_lib.config import ModelConfig
from twophase_lib.data import load_data
from twophase_lib.linearize import Linearized, linearized_model, train_linearized
from twophase_lib.models import build_model
from twophase_lib.store import evaluation_model
from twophase_lib.training import evaluate, initial_checkpoint, materialise, train


def model64():
    model = build_model(ModelConfig("resnet20", 0.125), seed=0, dtype="float64")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
    return model


def x64(n=4):
    return torch.randn(n, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def test_equal_to_the_network_at_theta_t():
    model, x = model64(), x64()
    lin = Linearized(model)
    assert torch.allclose(lin(x), model.eval()(x), rtol=1e-12, atol=1e-12)


def test_exactly_affine_in_theta():
    model, x = model64(), x64()
    lin = Linearized(model)
    f0 = lin(x).detach()
    d = {k: 1e-2 * torch.randn_like(p) for k, p in lin.net.named_parameters()}

    def at(scale):
        with torch.no_grad():
            for k, p in lin.net.named_parameters():
                p.copy_(lin._theta0[k] + scale * d[k])
        return lin(x).detach()

    one, two = at(1.0) - f0, at(2.0) - f0
    assert one.abs().max() > 1e-6
    assert torch.allclose(two, 2 * one, rtol=1e-10, atol=1e-12)
    # ... while the network itself is not affine at that scale
    net = model.eval()
    with torch.no_grad():
        base = net(x)
        for k, p in net.named_parameters():
            p.add_(d[k])
        n1 = net(x) - base
        for k, p in net.named_parameters():
            p.add_(d[k])
        n2 = net(x) - base
    assert not torch.allclose(n2, 2 * n1, rtol=1e-6)


def test_gradient_is_jacobian_transpose_times_output_gradient():
    model, x = model64(), x64()
    g = torch.randn(4, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lin = Linearized(model)
    lin_grads = torch.autograd.grad((lin(x) * g).sum(), list(lin.net.parameters()))
    net = model.eval()
    ref = torch.autograd.grad((net(x) * g).sum(), list(net.parameters()))
    for a, b in zip(lin_grads, ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_batch_norm_stays_frozen_in_train_mode():
    model = model64()
    lin = Linearized(model).train()
    before = {k: v.clone() for k, v in lin.net.named_buffers()}
    lin(x64())
    assert not lin.net.training
    assert all(torch.equal(before[k], v) for k, v in lin.net.named_buffers())


def test_train_linearized_runs_the_recipe_and_reduces_loss():
    cfg = tiny_config(steps=40).replace(optim={"lr": 0.01, "batch_size": 64}, data={"augment": False})
    data = load_data(cfg.data)
    base = train(cfg, until=10, progress=False).final
    res = train_linearized(cfg, base, progress=False)
    assert set(res.losses) == set(range(10, 40)) and res.final.step == 40
    before = evaluate(linearized_model(cfg, base), data, "train", limit=1000)["loss"]
    after = evaluate(linearized_model(cfg, base, res.final), data, "train", limit=1000)["loss"]
    assert after < before
    assert not torch.equal(res.final.model["fc.weight"], base.model["fc.weight"])
    # no steps: θ stays θ_t and the model equals the network at θ_t
    same = train_linearized(cfg, base, until=10, progress=False).final
    params = dict(materialise(cfg, base).named_parameters())
    assert all(torch.equal(same.model[k], base.model[k]) for k in params)
    x = x64().float()
    assert torch.allclose(linearized_model(cfg, base, same)(x), evaluation_model(cfg, base)(x), atol=1e-5)


def test_batch_norm_is_re_estimated_before_linearizing_at_initialisation():
    cfg = tiny_config(steps=4)
    init = initial_checkpoint(cfg)
    bn_vars = [k for k in init.model if k.endswith("running_var")]
    assert all(torch.equal(init.model[k], torch.ones_like(init.model[k])) for k in bn_vars)  # the defaults
    lin = linearized_model(cfg, init)
    buffers = dict(lin.net.named_buffers())
    assert all(not torch.allclose(buffers[k], torch.ones_like(buffers[k])) for k in bn_vars)
    # the re-estimated statistics are those of the training batches: they normalise the first BN's input
    model = evaluation_model(cfg, init)
    assert torch.equal(dict(model.named_buffers())[bn_vars[0]], buffers[bn_vars[0]])


def test_momentum_kept_or_reset():
    cfg = tiny_config(steps=14)
    base = train(cfg, until=10, progress=False).final
    kept = train_linearized(cfg, base, progress=False).final
    reset = train_linearized(cfg, base, reset_momentum=True, progress=False).final
    assert not torch.equal(kept.model["fc.weight"], reset.model["fc.weight"])


class _SelfAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


def test_attention_modules_are_linearized_through_their_reference_kernels():
    # in eval mode PyTorch runs attention through fused kernels without a forward-mode rule (the MHA fast path,
    # flash SDPA on a CPU); the linearization was refused with a message blaming oneDNN/cuDNN
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0)
    for model in (_SelfAttention().double(), layer.double()):
        x = torch.randn(2, 3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        lin = Linearized(model)
        f0 = lin(x)
        assert torch.allclose(f0, model.eval()(x), atol=1e-10) and lin.plain_kernels is False
        with torch.no_grad():
            d = {k: 1e-3 * torch.randn_like(p) for k, p in lin.net.named_parameters()}
            for k, p in lin.net.named_parameters():
                p.add_(d[k])
            f1 = lin(x)
            for k, p in lin.net.named_parameters():
                p.add_(d[k])
            f2 = lin(x)
        assert torch.allclose(f2 - f0, 2 * (f1 - f0), atol=1e-12)  # affine in θ
    assert torch.backends.mha.get_fastpath_enabled()  # the caller's setting is restored


def test_an_lstm_linearized_on_reference_kernels_trains_without_a_flood_of_warnings():
    """An LSTM's fused CPU kernel has no forward-mode rule, so its expansion runs with oneDNN off; setting oneDNN's
    flags warns about Intel GPUs' TF32 each time, and a linearized LSTM's run printed it hundreds of times (a user's
    check). The expansion itself is unchanged: equal to the network at θ_t."""
    import warnings

    from torch import nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.rnn, self.head = nn.Embedding(7, 4), nn.LSTM(4, 6, batch_first=True), nn.Linear(6, 3)

        def forward(self, x):
            return self.head(self.rnn(self.emb(x))[0][:, -1])

    torch.manual_seed(0)
    net, x = Classifier(), torch.randint(0, 7, (5, 4))
    lin = Linearized(net)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = [lin(x) for _ in range(3)]
    assert lin.plain_kernels is (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)
    assert not [w for w in seen if "TF32" in str(w.message)], [str(w.message) for w in seen]
    with torch.no_grad():
        assert torch.allclose(out[0], net.eval()(x), atol=1e-6)
