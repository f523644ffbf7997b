"""Writes sentences.txt: 2,000 distinct English sentences of 8 to 15 words, one per line, for
Fixtures/bench_serve.sh (the requests of the HTTP benchmark and the lines of its offline baseline).

They are made from a small phrase grammar with a fixed seed (standard library only), so a second
run writes the same bytes:

    python3 Fixtures/bench_serve/make_sentences.py
"""
import os
import random

SUBJECTS = [
    "The old librarian", "My younger brother", "A tired nurse", "The new manager", "Our neighbour",
    "The delivery driver", "A small child", "The city council", "Most students", "The research team",
    "Her grandmother", "The hotel staff", "A local farmer", "The football coach", "Two engineers",
    "The museum guide", "Every volunteer", "The bakery owner", "A famous painter", "The school bus driver",
    "My colleague from Berlin", "The night guard", "Several tourists", "The village doctor", "A retired pilot",
    "The youngest pupil", "Their landlord", "The train conductor", "A careful accountant", "The gardener",
]
VERBS_OBJECT = [
    "fixed the broken fence", "painted the kitchen walls", "read the morning newspaper", "planted tomatoes",
    "answered every email", "cleaned the dusty shelves", "booked a table for dinner", "wrote a long letter",
    "repaired the old bicycle", "baked fresh bread", "checked the weather forecast", "carried the heavy boxes",
    "counted the empty bottles", "closed the shop early", "opened a savings account", "lost the spare keys",
    "found a wallet on the pavement", "ordered new office chairs", "watered the thirsty plants",
    "visited the science museum", "cancelled the weekly meeting", "signed the rental contract",
    "tested the fire alarm", "sold the family car", "learned a few Spanish phrases", "fed the neighbour's cat",
    "sorted the winter clothes", "measured the living room", "photographed the sunset", "mended the torn jacket",
]
VERBS_ALONE = [
    "arrived late", "laughed loudly", "waited patiently", "slept badly", "worked overtime", "stayed at home",
    "left without a word", "complained about the noise", "walked to the station", "gave a short speech",
    "took the wrong train", "forgot the appointment", "finished the report", "moved to a bigger flat",
    "spoke to the press", "returned from holiday", "joined the choir", "went for a long run",
]
WHEN = [
    "yesterday morning", "last winter", "on Sunday afternoon", "after the storm", "before breakfast",
    "during the lunch break", "every Friday", "early this morning", "late at night", "two weeks ago",
    "at the end of the month", "in the spring", "after the concert", "while it was raining",
    "on the first day of school", "before the guests arrived",
]
WHERE = [
    "in the garden", "near the harbour", "at the train station", "behind the town hall", "in a quiet café",
    "on the third floor", "by the river", "at the corner shop", "in the school library", "outside the cinema",
    "at the airport", "in the village square", "on the farm", "at the hospital", "in the city centre",
]
WHY = [
    "because the roads were closed", "since nobody else had time", "so that the children could sleep",
    "although it was very cold", "because the price had dropped", "after a long discussion",
    "as the manager had asked", "even though the shop was busy", "because the heating had failed",
    "to prepare for the inspection", "before the deadline passed", "while the others were away",
]
QUESTIONS = [
    "Where can I buy a cheap ticket for the night train to Vienna?",
    "How long does it take to cook brown rice properly?",
    "Why do cats sleep for so many hours every day?",
    "What is the best way to learn a second language quickly?",
    "Can you recommend a good book about the history of Rome?",
    "Is it safe to swim in the lake after heavy rain?",
    "How much does it cost to repair a cracked phone screen?",
    "Which train goes directly from the airport to the city centre?",
    "When does the public library open on Saturday mornings?",
    "What should I pack for a week of hiking in the mountains?",
]
ADJ = ["quiet", "busy", "cheerful", "nervous", "patient", "curious", "careful", "generous", "honest", "tired"]
NOUN = ["neighbours", "customers", "visitors", "passengers", "patients", "students", "workers", "readers"]


def sentence(r: random.Random) -> str:
    form = r.randrange(6)
    if form == 0:
        s = f"{r.choice(SUBJECTS)} {r.choice(VERBS_OBJECT)} {r.choice(WHEN)}"
    elif form == 1:
        s = f"{r.choice(SUBJECTS)} {r.choice(VERBS_OBJECT)} {r.choice(WHERE)} {r.choice(WHEN)}"
    elif form == 2:
        subject = r.choice(SUBJECTS)
        when = r.choice(WHEN)
        s = f"{when[0].upper()}{when[1:]}, {subject[0].lower()}{subject[1:]} {r.choice(VERBS_ALONE)}"
    elif form == 3:
        s = f"{r.choice(SUBJECTS)} {r.choice(VERBS_ALONE)} {r.choice(WHY)}"
    elif form == 4:
        s = f"The {r.choice(ADJ)} {r.choice(NOUN)} {r.choice(VERBS_ALONE)} {r.choice(WHERE)}"
    else:
        if r.random() < 0.15:
            return r.choice(QUESTIONS)
        s = f"{r.choice(SUBJECTS)} {r.choice(VERBS_OBJECT)} {r.choice(WHY)}"
    return s + "."


def main() -> None:
    r = random.Random(20240601)
    seen, out = set(), []
    while len(out) < 2000:
        s = sentence(r)
        if 8 <= len(s.split()) <= 15 and s not in seen:
            seen.add(s)
            out.append(s)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sentences.txt")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {len(out)} sentences to {path}")


if __name__ == "__main__":
    main()
