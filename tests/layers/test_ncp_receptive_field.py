"""The receptive field of the NCP form grows with the degree when Sₙ is spatial.

The output at the centre position is computed for the input perturbed at each
position in turn (one batch); it changes exactly where the input is inside
the expected radius (Chebyshev distance), and not at all elsewhere. With
random weights every term is generic: a dependence that exists shows.

With ``A`` of kernel ``k_A``, ``Sₙ`` of ``k_S`` and dilation ``d``,
``x₁ = A₁z`` sees radius ``d (k_A - 1) / 2`` and each step ``n ≥ 2`` adds
``d (k_S - 1) / 2``. The authors' mesh layer (``SpiralPoly``) has ``S₂`` the
identity (its first step multiplies two maps of ``z``): radius 1, 2, 3 at
degree 2, 3, 4 with 3×3 kernels.
"""

import itertools

import keras
import numpy as np
import pytest

from pinet_keras import PolynomialConv1D
from pinet_keras import PolynomialConv2D
from pinet_keras import PolynomialConv3D

CONVOLUTIONS = {1: PolynomialConv1D, 2: PolynomialConv2D, 3: PolynomialConv3D}


def _randomize(layer, seed):
    """Every weight random (the identity Sₙ of the initialization has zero neighbours)."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        if "moving_variance" in weight.path:
            value = rng.uniform(0.5, 2.0, weight.shape)
        else:
            value = rng.normal(0.0, 0.5, weight.shape)
        weight.assign(value)


def measured_radius(layer, rank, size, seed=0, step=1):
    """The largest Chebyshev distance from the centre of the input positions that change
    the centre output; asserts they fill the cube of that radius (on the lattice of
    ``step``, the dilation: a dilated kernel sees every ``step``-th position)."""
    rng = np.random.default_rng(seed)
    channels = 2
    z = rng.normal(size=(1,) + (size,) * rank + (channels,))
    positions = list(itertools.product(range(size), repeat=rank))
    batch = np.repeat(z, len(positions) + 1, axis=0)
    for i, position in enumerate(positions, 1):
        batch[(i, *position)] += rng.normal(size=channels)  # row 0: unperturbed
    y = keras.ops.convert_to_numpy(layer(keras.ops.convert_to_tensor(batch, "float64")))
    centre = (size // 2,) * rank
    response = np.abs(y[(slice(None), *centre)] - y[(0, *centre)]).max(axis=-1)
    scale = np.abs(y[(0, *centre)]).max()
    assert scale > 0
    # Outside: bitwise the same window, so exactly equal up to float noise in the
    # reductions of other positions' values, which never reach the centre.
    inside = response[1:] > 1e-9 * scale
    assert (response[1:][~inside] <= 1e-12 * scale).all()
    offsets = [np.subtract(position, centre) for position, hit in zip(positions, inside) if hit]
    radius = max(int(np.abs(offset).max()) for offset in offsets)
    expected = {
        tuple(np.subtract(p, centre))
        for p in positions
        if np.abs(np.subtract(p, centre)).max() <= radius
        and not np.remainder(np.subtract(p, centre), step).any()
    }
    assert {tuple(offset) for offset in offsets} == expected  # the whole cube, no holes
    return radius


def _layer(rank, degree, kernel_size, s_kernel_size, dilation_rate=1, size=15, **kwargs):
    layer = CONVOLUTIONS[rank](
        3,
        kernel_size,
        padding="same",
        degree=degree,
        form="ncp",
        s_kernel_size=s_kernel_size,
        dilation_rate=dilation_rate,
        dtype="float64",
        **kwargs,
    )
    layer.build((None,) + (size,) * rank + (2,))
    _randomize(layer, degree)
    return layer


@pytest.mark.parametrize(
    "kernel_size, s_kernel_size, radii",
    [
        (1, 3, (1, 2, 3)),  # A 1×1, S 3×3: the growth alone
        (3, 3, (2, 3, 4)),  # A 3×3, S 3×3
        (3, 1, (1, 1, 1)),  # today's 1×1 Sₙ: the receptive field of A at every degree
        (3, 5, (3, 5, 7)),
    ],
)
def test_radius_grows_with_degree_2d(kernel_size, s_kernel_size, radii):
    for degree, radius in zip((2, 3, 4), radii):
        layer = _layer(2, degree, kernel_size, s_kernel_size)
        assert measured_radius(layer, 2, 15) == radius, degree


def test_mesh_layout_radius_1_2_3():
    """The authors' mesh layout (S₂ the identity, every kernel 3×3): radius 1, 2, 3."""
    for degree, radius in zip((2, 3, 4), (1, 2, 3)):
        layer = _layer(2, degree, 3, 3, normalization="batch_as", use_skip="residual")
        identity = np.zeros((3, 3, 3, 3))
        identity[1, 1] = np.eye(3)
        layer.mix_kernel_2.assign(identity)
        assert measured_radius(layer, 2, 15) == radius, degree


@pytest.mark.parametrize("rank", [1, 3])
def test_radius_other_ranks(rank):
    size = 15 if rank == 1 else 9
    for degree, radius in zip((2, 3), (2, 3)):
        layer = _layer(rank, degree, 3, 3, size=size)
        assert measured_radius(layer, rank, size) == radius


def test_radius_with_dilation():
    """Sₙ takes the branches' dilation: each step adds d (k_S - 1) / 2 = 2."""
    for degree, radius in zip((2, 3), (4, 6)):
        layer = _layer(2, degree, 3, 3, dilation_rate=2)
        assert measured_radius(layer, 2, 15, step=2) == radius
