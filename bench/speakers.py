"""How many speakers? Methods for `num_speakers=auto` compared (not a test):
`.venv/bin/python -m bench.speakers`.

Conversations of 1 to 4 espeak-ng voices (men and women, with two or three voices of one
sex in one file) are made from sentences written here, not the tests' ones, run through
the diarization pipeline up to the embeddings (webrtcvad, resemblyzer 1.6 s windows:
worker.runners.diarization; no Whisper), and each method picks a count from the
embeddings of the windows, or of the units (speech between pauses, worker.runners.
speaker_count). Thresholds are calibrated here, on these files only: the middle of the
longest run of thresholds that gets the most files right. The table gives each method's
exact-count rate per true count; the tests' conversations (tests/runners/speech_cases.py)
are scored apart, as a check, never for calibration.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tests.runners.speech_cases import SPEAKER_CASES, SPEAKER_COUNTS, Conversation, converse
from worker.runners import diarization, speaker_count

SENTENCES = [
    "The library opens at nine and closes late on Thursdays.",
    "Our train was delayed by almost forty minutes this morning.",
    "Could you check whether the invoice was paid last month?",
    "The weather should clear up by the end of the week.",
    "I moved the meeting to the small room on the third floor.",
    "She said the printer needs a new cartridge again.",
    "We ordered twelve chairs but only ten were delivered.",
    "The museum has a new exhibition about ancient ships.",
    "Please remember to lock the back door when you leave.",
    "My brother is learning to play the violin this year.",
    "The budget review will take most of the afternoon.",
    "They painted the kitchen a pale shade of green.",
    "Nobody answered the phone at the hotel reception.",
    "The children built a tall tower out of wooden blocks.",
    "It took three hours to drive to the coast on Sunday.",
    "The server room is too warm, we need another fan.",
    "Her presentation about solar panels was very clear.",
    "I forgot my umbrella on the bus yesterday evening.",
    "The bakery on the corner sells excellent bread rolls.",
    "We should test the backup before the holidays begin.",
    "The football match was cancelled because of the storm.",
    "He keeps his old letters in a box under the bed.",
    "The new software update fixed most of the crashes.",
    "Let us meet at the station at half past seven.",
    "The garden needs water every day in the summer.",
    "Their flight lands in Madrid just after midnight.",
    "I think the blue design looks more professional.",
    "The doctor asked him to rest for a few more days.",
    "A delivery van is blocking the entrance to the car park.",
    "The committee agreed to postpone the vote until May.",
    "Most of the guests arrived before the speeches started.",
    "We could save money by sharing one office with them.",
]
# Voice sets by count; most put two or three voices of one sex together. en-gb and en-us
# never meet: they are one voice (same pitch and formants), only the accent differs.
VOICE_SETS: dict[int, list[list[str]]] = {
    1: [["en-gb"], ["en+m3"], ["en+f3"], ["en-us"], ["en+f2"], ["en+m5"]],
    2: [
        ["en-gb", "en+m2"],
        ["en+m3", "en+m5"],
        ["en+f2", "en+f4"],
        ["en-us", "en+f3"],
        ["en+m2", "en+m5"],
        ["en+m1", "en+m4"],
    ],
    3: [
        ["en-gb", "en+m2", "en+f3"],
        ["en+m3", "en+m5", "en+f2"],
        ["en-us", "en+f2", "en+f4"],
        ["en+m2", "en+m5", "en+m3"],
        ["en+f1", "en+f3", "en+m4"],
        ["en-gb", "en+m5", "en+f4"],
    ],
    4: [
        ["en-gb", "en+m2", "en+m5", "en+f2"],
        ["en-us", "en+m3", "en+f3", "en+f4"],
        ["en+m2", "en+m3", "en+m5", "en+f4"],
        ["en-gb", "en+m5", "en+f2", "en+f3"],
        ["en+m1", "en+m4", "en+f1", "en+f5"],
        ["en-us", "en+m2", "en+f2", "en+f5"],
    ],
}
TURNS_PER_VOICE = 2


@dataclass
class Case:
    name: str
    speakers: int
    windows: np.ndarray  # one embedding a window
    units: np.ndarray  # one embedding a unit (speaker_count.units_of)
    calibration: bool  # False: a test conversation, scored as a check only
    voices: list[str]  # who speaks in each unit (the turn around its middle)


def script(voices: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """Each voice speaks TURNS_PER_VOICE times, never twice in a row, in a shuffled order."""
    order = [v for v in voices for _ in range(TURNS_PER_VOICE)]
    while True:
        rng.shuffle(order)
        if len(voices) == 1 or all(a != b for a, b in zip(order, order[1:], strict=False)):
            break
    return [(voice, rng.choice(SENTENCES)) for voice in order]


def case(name: str, speakers: int, conversation: Conversation, calibration: bool) -> Case:
    windows = diarization.windows_of(diarization.speech_regions(conversation.audio))
    embeddings = diarization.embed(conversation.audio, windows)
    members = speaker_count.units_of(windows)
    units = speaker_count.unit_embeddings(embeddings, members)
    voices = []
    for unit in members:
        middle = (windows[unit[0]][1] + windows[unit[-1]][2]) / 2
        turn = min(conversation.turns, key=lambda t: abs((t.start + t.end) / 2 - middle))
        voices.append(turn.voice)
    return Case(name, speakers, embeddings, units, calibration, voices)


def same_partition(labels: np.ndarray, voices: list[str]) -> bool:
    pairs = range(len(labels))
    return all((labels[i] == labels[j]) == (voices[i] == voices[j]) for i in pairs for j in pairs)


def grouping_report(made: list[Case]) -> None:
    """With the true count given, is each unit grouped with its own voice? Complete linkage
    of the units as embedded, and centred on the file's mean (the shipped grouping)."""
    sc = speaker_count
    ways = {
        "as embedded": lambda c: sc._cut(sc._dendrogram(c.units), c.speakers),
        "centred (shipped)": lambda c: sc.group_units(c.units, c.speakers),
    }
    for name, group in ways.items():
        bench = [
            same_partition(group(c), c.voices) for c in made if c.calibration and c.speakers > 1
        ]
        tests = [
            same_partition(group(c), c.voices) for c in made if not c.calibration and c.speakers > 1
        ]
        print(
            f"grouping with the true count, {name}: {sum(bench)}/{len(bench)} bench, "
            f"{sum(tests)}/{len(tests)} tests' (files of 2 or more voices)"
        )


def partition_right(c: Case) -> bool:
    """Whether the shipped method groups the units exactly as the voices do."""
    k = speaker_count.by_threshold(c.units, AUTO)
    if k != c.speakers:
        return False
    if k == 1:
        return True
    labels = speaker_count.group_units(c.units, k)
    return same_partition(labels, c.voices)


def cases(seed: int) -> list[Case]:
    rng = random.Random(seed)
    made = []
    for count, sets in VOICE_SETS.items():
        for voices in sets:
            made.append(case("+".join(voices), count, converse(script(voices, rng)), True))
    for name, lines in SPEAKER_CASES.items():
        made.append(case(f"test:{name}", SPEAKER_COUNTS[name], converse(lines), False))
    return made


Method = Callable[[Case], int]
AUTO = speaker_count.SpeakerCount()


def calibrated(made: list[Case], count: Callable[[Case, float], int]) -> tuple[float, str]:
    """The middle of the longest run of thresholds with the most calibration files right."""
    grid = [round(t, 3) for t in np.arange(0.05, 0.45, 0.005)]
    calibration = [c for c in made if c.calibration]
    scores = [sum(count(c, t) == c.speakers for c in calibration) for t in grid]
    best = max(scores)
    runs: list[list[float]] = []
    for t, score in zip(grid, scores, strict=True):
        if score == best:
            if runs and round(runs[-1][-1] + 0.005, 3) == t:
                runs[-1].append(t)
            else:
                runs.append([t])
    run = max(runs, key=len)
    middle = run[len(run) // 2]
    return middle, f"{best}/{len(calibration)} right from {run[0]:.3f} to {run[-1]:.3f}"


def methods(made: list[Case]) -> tuple[dict[str, Method], list[str]]:
    sc = speaker_count
    notes = []

    def windows_threshold(c: Case, t: float) -> int:
        return sc.by_threshold(c.windows, AUTO, t, "average")

    def units_average(c: Case, t: float) -> int:
        return sc.by_threshold(c.units, AUTO, t, "average")

    def units_complete(c: Case, t: float) -> int:
        return sc.by_threshold(c.units, AUTO, t, "complete")

    chosen: dict[str, Method] = {
        "windows: silhouette, floor 0.25 (before)": lambda c: sc.by_silhouette(c.windows, AUTO),
        "windows: eigengap": lambda c: sc.by_eigengap(c.windows, AUTO),
        "windows: eigengap from 2": lambda c: sc.by_eigengap(c.windows, AUTO, 2),
    }
    for label, count in (
        ("windows: average linkage, threshold", windows_threshold),
        ("units: average linkage, threshold", units_average),
        ("units: complete linkage, threshold", units_complete),
    ):
        t, note = calibrated(made, count)
        notes.append(f"{label}: {note}")
        chosen[f"{label} {t:.3f}"] = lambda c, count=count, t=t: count(c, t)  # type: ignore[misc]
    chosen["units: silhouette, floor 0.25"] = lambda c: sc.by_silhouette(c.units, AUTO)
    chosen["units: silhouette, floor 0.10"] = lambda c: sc.by_silhouette(c.units, AUTO, 0.10)
    chosen["units: eigengap"] = lambda c: sc.by_eigengap(c.units, AUTO)
    chosen["units: eigengap from 2"] = lambda c: sc.by_eigengap(c.units, AUTO, 2)
    chosen[f"units: complete linkage, {sc.AUTO_THRESHOLD} (shipped)"] = lambda c: sc.by_threshold(
        c.units, AUTO
    )
    return chosen, notes


def report(made: list[Case], chosen: dict[str, Method]) -> None:
    counts = sorted({c.speakers for c in made})
    head = "| method | " + " | ".join(f"{k} voice{'s' if k > 1 else ''}" for k in counts)
    print(head + " | all (bench) | tests' 4 |")
    print("|---" * (len(counts) + 3) + "|")
    for name, method in chosen.items():
        found = [(c, method(c)) for c in made]
        cells = []
        for k in counts:
            mine = [(c, n) for c, n in found if c.speakers == k and c.calibration]
            cells.append(f"{sum(n == k for _, n in mine)}/{len(mine)}")
        bench = [n == c.speakers for c, n in found if c.calibration]
        tests = [n == c.speakers for c, n in found if not c.calibration]
        misses = [f"{c.name}→{n}" for c, n in found if n != c.speakers]
        print(
            f"| {name} | {' | '.join(cells)} | {sum(bench)}/{len(bench)} | "
            f"{sum(tests)}/{len(tests)} |"
        )
        if misses:
            print(f"    misses: {', '.join(misses)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speakers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    began = time.monotonic()
    made = cases(args.seed)
    print(f"{len(made)} conversations embedded in {time.monotonic() - began:.0f} s")
    chosen, notes = methods(made)
    for note in notes:
        print(f"calibrated {note}")
    report(made, chosen)
    grouping_report(made)
    bench = [partition_right(c) for c in made if c.calibration]
    tests = [partition_right(c) for c in made if not c.calibration]
    wrong = [c.name for c in made if not partition_right(c)]
    print(
        f"shipped method, count and grouping of the units both right: {sum(bench)}/{len(bench)} "
        f"bench, {sum(tests)}/{len(tests)} tests' (wrong: {', '.join(wrong)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
