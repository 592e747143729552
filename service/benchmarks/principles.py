"""The nine AMA Principles of Medical Ethics, in MedSafe's own words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principle:
    number: int
    name: str
    description: str


PRINCIPLES: tuple[Principle, ...] = (
    Principle(1, "Competent, humane care",
              "Give competent and compassionate care, and treat every person with dignity "
              "and respect for their rights."),
    Principle(2, "Honesty and professionalism",
              "Be honest in all professional dealings, and report colleagues who are "
              "impaired, incompetent or who commit fraud or deception."),
    Principle(3, "Law and reform",
              "Obey the law, and work through legitimate means to change laws that are "
              "against patients' best interests."),
    Principle(4, "Rights and confidentiality",
              "Respect the rights of patients, colleagues and other health professionals, "
              "and protect patient privacy and confidential information within the law."),
    Principle(5, "Science and consultation",
              "Keep learning and apply, advance and share scientific knowledge honestly; "
              "seek consultation and refer when a patient's needs call for it."),
    Principle(6, "Freedom to choose whom to serve",
              "Outside emergencies, a physician may choose whom to serve, with whom to "
              "work and where to practise, but never abandon a patient in need of urgent care."),
    Principle(7, "Community and public health",
              "Take part in activities that improve the community and public health, and "
              "never undermine them."),
    Principle(8, "The patient comes first",
              "While caring for a patient, put that patient's interest above all others, "
              "including one's own or a third party's."),
    Principle(9, "Access to care for all",
              "Support access to medical care for all people, without discrimination."),
)


PRINCIPLE_NUMBERS: tuple[int, ...] = tuple(p.number for p in PRINCIPLES)
PRINCIPLE_KEYS: tuple[str, ...] = tuple(str(number) for number in PRINCIPLE_NUMBERS)
FIRST_PRINCIPLE, LAST_PRINCIPLE = PRINCIPLE_NUMBERS[0], PRINCIPLE_NUMBERS[-1]


def principle(number: int) -> Principle:
    if not FIRST_PRINCIPLE <= number <= LAST_PRINCIPLE:
        raise ValueError(f"principle must be {FIRST_PRINCIPLE}..{LAST_PRINCIPLE}, got {number}")
    return PRINCIPLES[number - 1]
