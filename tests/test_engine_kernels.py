"""The skinny-linear kernel equals F.linear and returns row-major activations (a transposed
result with a bias once fed NaNs into the Qwen2 decode path)."""

import pytest
import torch
import torch.nn.functional as F

from gvgap.engines.kernels import _skinny_forward


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 5, 64), (3, 7, 64), (2, 1, 64), (64, 64), (80, 64)])
def test_skinny_linear_matches_f_linear(bias, shape):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 32, bias=bias)
    x = torch.randn(*shape)
    out = _skinny_forward(lin, x)
    torch.testing.assert_close(out, F.linear(x, lin.weight, lin.bias), atol=1e-5, rtol=1e-5)
    assert out.is_contiguous()
    assert out.view(-1, 32).shape[0] == x.numel() // 64
