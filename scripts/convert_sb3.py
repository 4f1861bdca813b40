"""Command line of ``agents.experiments.convert_sb3`` (an SB3 zip to an nngym model file); ``--help`` describes it."""

from agents.experiments.convert_sb3 import main

if __name__ == "__main__":
    main()
