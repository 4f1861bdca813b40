"""Command line of ``agents.experiments.enjoy`` (watch a saved agent, record videos); ``--help`` describes it."""

from agents.experiments.enjoy import main

if __name__ == "__main__":
    main()
