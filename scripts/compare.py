"""Command line of ``agents.experiments.compare`` (nngym vs SB3); ``--help`` describes it."""

from agents.experiments.compare import main

if __name__ == "__main__":
    main()
