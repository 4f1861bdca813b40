"""Command line of ``agents.experiments.zoo_table`` (nngym vs SB3 on the zoo's entries); ``--help`` describes it."""

from agents.experiments.zoo_table import main

if __name__ == "__main__":
    main()
