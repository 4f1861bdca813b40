"""Datasets bundled with nngym."""

from nngym.datasets.mnist import MNISTError, load_mnist, mnist_dir

__all__ = ["MNISTError", "load_mnist", "mnist_dir"]
