"""CoNLL-style sentences written for the NER tests, with the entities a reader expects.

Each case: the sentence and its entity words as (word, CoNLL tag), in order.
"""

from __future__ import annotations

REFERENCE_TEXT = "SOCCER - JAPAN GET LUCKY WIN, CHINA IN SURPRISE DEFEAT."
REFERENCE_LINE = (
    '{"entities": [{"begin_offset": 9, "end_offset": 14, "entity": "B-LOC", "word": "JAPAN"}, '
    '{"begin_offset": 30, "end_offset": 35, "entity": "B-LOC", "word": "CHINA"}], '
    '"text": "SOCCER - JAPAN GET LUCKY WIN, CHINA IN SURPRISE DEFEAT."}'
)

CASES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Angela Merkel met Emmanuel Macron in Berlin on Tuesday.",
        [
            ("Angela", "B-PER"),
            ("Merkel", "I-PER"),
            ("Emmanuel", "B-PER"),
            ("Macron", "I-PER"),
            ("Berlin", "B-LOC"),
        ],
    ),
    (
        "Shares of Microsoft rose after the company reported strong cloud sales.",
        [("Microsoft", "B-ORG")],
    ),
    (
        "Roger Federer beat Rafael Nadal in the final at Wimbledon.",
        [
            ("Roger", "B-PER"),
            ("Federer", "I-PER"),
            ("Rafael", "B-PER"),
            ("Nadal", "I-PER"),
            ("Wimbledon", "B-LOC"),
        ],
    ),
    (
        "Toyota plans to build a new factory in Texas, the carmaker said in Tokyo.",
        [("Toyota", "B-ORG"), ("Texas", "B-LOC"), ("Tokyo", "B-LOC")],
    ),
    ("Police in Sydney arrested two men after a robbery on Sunday.", [("Sydney", "B-LOC")]),
    (
        "French President Emmanuel Macron will visit India next month.",
        [("French", "B-MISC"), ("Emmanuel", "B-PER"), ("Macron", "I-PER"), ("India", "B-LOC")],
    ),
    (
        "NASA launched a weather satellite from Florida on Saturday.",
        [("NASA", "B-ORG"), ("Florida", "B-LOC")],
    ),
    (
        "The Nile flows through Egypt and Sudan.",
        [("Nile", "B-LOC"), ("Egypt", "B-LOC"), ("Sudan", "B-LOC")],
    ),
    (
        "Apple unveiled a new phone at an event in Cupertino, California.",
        [("Apple", "B-ORG"), ("Cupertino", "B-LOC"), ("California", "B-LOC")],
    ),
    (
        "Kenyan runner Eliud Kipchoge won the marathon in London.",
        [("Kenyan", "B-MISC"), ("Eliud", "B-PER"), ("Kipchoge", "I-PER"), ("London", "B-LOC")],
    ),
    (
        "The Dutch government said Amsterdam would host the summit.",
        [("Dutch", "B-MISC"), ("Amsterdam", "B-LOC")],
    ),
    (
        "Volkswagen signed a deal with the city of Munich.",
        [("Volkswagen", "B-ORG"), ("Munich", "B-LOC")],
    ),
    (
        "Barack Obama spoke at Harvard University in Massachusetts.",
        [
            ("Barack", "B-PER"),
            ("Obama", "I-PER"),
            ("Harvard", "B-ORG"),
            ("University", "I-ORG"),
            ("Massachusetts", "B-LOC"),
        ],
    ),
    (
        "The United Nations sent aid to Haiti after the earthquake.",
        [("United", "B-ORG"), ("Nations", "I-ORG"), ("Haiti", "B-LOC")],
    ),
    ("Google opened a research office in Zurich.", [("Google", "B-ORG"), ("Zurich", "B-LOC")]),
    (
        "Lionel Messi scored twice as Argentina beat Brazil.",
        [("Lionel", "B-PER"), ("Messi", "I-PER"), ("Argentina", "B-LOC"), ("Brazil", "B-LOC")],
    ),
    (
        "The Federal Reserve raised interest rates, Jerome Powell said in Washington.",
        [
            ("Federal", "B-ORG"),
            ("Reserve", "I-ORG"),
            ("Jerome", "B-PER"),
            ("Powell", "I-PER"),
            ("Washington", "B-LOC"),
        ],
    ),
    (
        "Amazon hired thousands of workers in Seattle last year.",
        [("Amazon", "B-ORG"), ("Seattle", "B-LOC")],
    ),
    ("Italian police arrested a suspect near Rome.", [("Italian", "B-MISC"), ("Rome", "B-LOC")]),
    (
        "Serena Williams withdrew from the tournament in Paris.",
        [("Serena", "B-PER"), ("Williams", "I-PER"), ("Paris", "B-LOC")],
    ),
    (
        "The World Bank approved a loan to Kenya.",
        [("World", "B-ORG"), ("Bank", "I-ORG"), ("Kenya", "B-LOC")],
    ),
    (
        "Boeing delivered new aircraft to Qantas in Melbourne.",
        [("Boeing", "B-ORG"), ("Qantas", "B-ORG"), ("Melbourne", "B-LOC")],
    ),
]
