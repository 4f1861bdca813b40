"""Command line of ``agents.experiments.train`` (the train runner); ``--help`` describes it."""

from agents.experiments.train import main

if __name__ == "__main__":
    main()
