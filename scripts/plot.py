"""Command line of ``agents.experiments.plot`` (reward curves); ``--help`` describes it."""

from agents.experiments.plot import main

if __name__ == "__main__":
    main()
