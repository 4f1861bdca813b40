"""Command line of ``agents.experiments.export`` (a saved policy to ONNX); ``--help`` describes it."""

from agents.experiments.export import main

if __name__ == "__main__":
    main()
