"""Speech for the speech tests and bench.speakers (no Django, no pytest): worker.synth makes
it with espeak-ng (`converse` lays the lines of a script end to end and knows when each
voice spoke). SPEAKER_CASES are the tests' conversations for the speaker count: voices
of one sex side by side (espeak's `+m`/`+f` variants change pitch and formants, which is
most of what a speaker embedding hears). bench.speakers calibrates on other sentences.
"""

from __future__ import annotations

from worker.synth import (
    LEAD_IN_S,
    PAUSE_S,
    SAMPLE_RATE,
    Conversation,
    EspeakMissing,
    Turn,
    converse,
    espeak,
)

__all__ = [
    "LEAD_IN_S",
    "PAUSE_S",
    "SAMPLE_RATE",
    "Conversation",
    "EspeakMissing",
    "Turn",
    "converse",
    "espeak",
]

# The tests' speaker-count conversations: name -> (voice, text) lines. Short lines keep
# Whisper quick; each voice speaks at least twice, for 2 s or more in all.
SPEAKER_CASES: dict[str, list[tuple[str, str]]] = {
    "monologue": [
        ("en+f4", "Today I will explain how the new parking rules work."),
        ("en+f4", "Every car needs a permit from the office on the first floor."),
        ("en+f4", "Visitors may park for two hours near the main entrance."),
    ],
    "two": [  # two men
        ("en-gb", "Did you finish the report for the board?"),
        ("en+m2", "Almost, I still need the sales figures from March."),
        ("en-gb", "I can send them to you this afternoon."),
        ("en+m2", "Perfect, then I will finish it tonight."),
    ],
    "three": [  # three men
        ("en-gb", "Let us decide where the team dinner will be."),
        ("en+m2", "I would like the Italian place by the river."),
        ("en+m5", "That one is always full on Fridays."),
        ("en-gb", "Then we should book a table this week."),
        ("en+m2", "I can call them tomorrow morning."),
        ("en+m5", "Ask for a table near the window please."),
    ],
    "four": [  # two men and two women
        ("en-gb", "Welcome back, the first item is the garden project."),
        ("en+f2", "The new trees arrived on Monday and look healthy."),
        ("en+m5", "We still have to choose the flowers for the front."),
        ("en+f4", "I can bring the seeds from my brother's farm."),
        ("en-gb", "Good, let us plant them before the rain starts."),
        ("en+f2", "I will rent a small digger for the weekend."),
        ("en+m5", "Please keep the path to the gate clear."),
        ("en+f4", "Then I will come early on Saturday."),
    ],
}
SPEAKER_COUNTS = {"monologue": 1, "two": 2, "three": 3, "four": 4}
