"""The `jaxlab` command, as SLM Lab's `slm-lab`: `jaxlab run ...` (train, dev, search, enjoy@, train@),
`jaxlab plot -f run1,run2 ...` (a multi-run comparison graph) and `jaxlab retro DIR` (retro-analysis)."""

from __future__ import annotations

import sys

COMMANDS = {
    "run": "train a spec: jaxlab run SPEC_FILE [SPEC_NAME] [MODE] [-s KEY=VALUE ...]",
    "plot": "compare runs in one graph: jaxlab plot -f RUN1,RUN2 [-t TITLE] [-l LEGEND1,LEGEND2]",
    "retro": "rebuild a run's metrics, graphs and zip from its CSVs: jaxlab retro DIR",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: jaxlab COMMAND ...\n"
            + "\n".join(f"  {name:6s} {what}" for name, what in COMMANDS.items())
        )
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        from jaxlab.run import main as run

        return run(rest)
    if command == "plot":
        from jaxlab.plot import main as plot

        return plot(rest)
    if command == "retro":
        from jaxlab.retro import main as retro

        return retro(rest)
    print(f"jaxlab: error: unknown command {command!r} — use one of: {', '.join(COMMANDS)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
