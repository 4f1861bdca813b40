"""nngym: neural networks in numpy, written from the equations of backpropagation.

The layer protocol, costs, optimisers and networks follow Nielsen's *Neural Networks
and Deep Learning*. This package is the neural-network library alone: it imports neither
``envs`` nor ``agents``.

- ``layer``: the protocol every layer follows (``forward``/``backward``, ``params``/``grads``)
- ``dense``, ``conv``, ``im2col``, ``pooling``, ``reshape``, ``dropout``, ``activations``: feed-forward layers
- ``recurrent``, ``rnn``, ``lstm``: recurrent layers over sequences
- ``costs``, ``optim``, ``schedules``, ``init``: costs, optimisers, learning-rate schedules, initialisers
- ``network``, ``builders``, ``serialization``: ``Sequential`` networks, builders from spec strings, npz + JSON files
- ``train``, ``gradcheck``: supervised training loops, central-difference gradient checks
- ``checks``: argument checks shared by constructors, builders and training loops
- ``rbm``, ``dbn``: restricted Boltzmann machines and deep belief networks
- ``datasets``: MNIST, bundled and verified, and image augmentation
"""

from nngym.activations import ACTIVATIONS, GELU, ReLU, Sigmoid, Softmax, Tanh, log_softmax, sigmoid, softmax
from nngym.conv import Conv2D
from nngym.costs import COSTS, CrossEntropyCost, HuberCost, QuadraticCost, SoftmaxCrossEntropy, check_finite
from nngym.dbn import DBN
from nngym.dense import Dense
from nngym.dropout import Dropout
from nngym.gradcheck import gradcheck, gradcheck_cost
from nngym.layer import Layer
from nngym.lstm import LSTM
from nngym.network import Sequential
from nngym.optim import OPTIMIZERS, SGD, Adam, Momentum, RMSprop, clip_grad_norm
from nngym.pooling import L2Pool2D, MaxPool2D
from nngym.rbm import RBM, CDConfig, CDTrainer
from nngym.recurrent import Recurrent
from nngym.reshape import Flatten
from nngym.rnn import RNN
from nngym.schedules import constant, linear, parse_schedule
from nngym.serialization import ModelFileError
from nngym.version import __version__

__all__ = [
    "__version__",
    "ACTIVATIONS",
    "COSTS",
    "DBN",
    "LSTM",
    "OPTIMIZERS",
    "RBM",
    "RNN",
    "SGD",
    "Adam",
    "CDConfig",
    "CDTrainer",
    "Conv2D",
    "CrossEntropyCost",
    "Dense",
    "Dropout",
    "Flatten",
    "HuberCost",
    "L2Pool2D",
    "Layer",
    "MaxPool2D",
    "ModelFileError",
    "Momentum",
    "QuadraticCost",
    "RMSprop",
    "ReLU",
    "GELU",
    "Recurrent",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Tanh",
    "check_finite",
    "clip_grad_norm",
    "constant",
    "gradcheck",
    "gradcheck_cost",
    "linear",
    "log_softmax",
    "parse_schedule",
    "sigmoid",
    "softmax",
]
