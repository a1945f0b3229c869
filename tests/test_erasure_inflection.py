"""An erasure finds the person's name also where Finnish inflection changed
its stem (Virtanen -> Virtaselle, Lahti -> Lahden, Pekka -> Pekan), and leaves
ordinary words alone that only look like it (Koski -> "koskee").

The notes are written on someone else's case: an erasure scrubs every case's
notes, and a note is other people's text, so both what goes and what stays
matter. The common Finnish surnames here are test values, not people."""

import pytest

from registry.rights.erasure import customer_erase
from registry.rights.inflection import finnish_name_stems
from registry.rights.models import DataSubjectRequest

from .factories import CustomerFactory, DataSubjectRequestFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def note_after_erasure(register_manager):
    """The note of another customer's case after erasing a customer with the
    given name (the other name part is one the notes never use)."""

    def erase(note, *, first_name="Ilmari", last_name="Poistettava"):
        case = DataSubjectRequestFactory(identity_verification=note)
        customer = CustomerFactory(
            first_name=first_name,
            last_name=last_name,
            email="poistettava@example.invalid",
            phone="",
            street_address="Testikuja 1",
        )
        customer_erase(customer=customer, by=register_manager)
        case.refresh_from_db()
        return case.identity_verification

    return erase


def test_a_note_on_someone_elses_case_loses_the_inflected_name(register_manager):
    other_case = DataSubjectRequestFactory(
        identity_verification="Soitettu Virtaselle, Virtasen osoite tarkistettu"
    )
    customer = CustomerFactory(first_name="Erkki", last_name="Virtanen", phone="")

    customer_erase(customer=customer, by=register_manager)

    other_case.refresh_from_db()
    assert other_case.customer is not None
    assert other_case.identity_verification == (
        "Soitettu [poistettu]lle, [poistettu]n osoite tarkistettu"
    )
    assert DataSubjectRequest.objects.get(pk=other_case.pk).version > 1


#: (last name, note, the note after the erasure): the stem goes, the ending
#: stays, as with a name found by its beginning ("Mäkiä" -> "[poistettu]ä").
LAST_NAMES_FOUND = [
    # -nen: the stems -se-, -s- and -si- (plural).
    ("Virtanen", "Virtasen kanssa", "[poistettu]n kanssa"),
    ("Virtanen", "ei Virtasta", "ei [poistettu]ta"),
    ("Virtanen", "Virtaselle soitettu", "[poistettu]lle soitettu"),
    ("Virtanen", "Virtaset muuttivat", "[poistettu]t muuttivat"),
    ("Virtanen", "Virtasten lapset", "[poistettu]ten lapset"),
    ("Virtanen", "kirje Virtasille", "kirje [poistettu]lle"),
    ("Virtanen", "Virtasineen", "[poistettu]neen"),
    ("Virtanen", "Virtasellekin", "[poistettu]llekin"),
    ("Virtanen", "VIRTASESTA", "[poistettu]STA"),
    ("Korhonen", "Korhosen puhelu", "[poistettu]n puhelu"),
    ("Hämäläinen", "Hämäläistä ei tavoitettu", "[poistettu]tä ei tavoitettu"),
    # -i: the e-stem and the weak grade of the last syllable.
    ("Koski", "Koskea ei tavoitettu", "[poistettu]a ei tavoitettu"),
    ("Koski", "Kosken osoite", "[poistettu]n osoite"),
    ("Koski", "Koskelle soitettu", "[poistettu]lle soitettu"),
    ("Niemi", "Niemen puhelu", "[poistettu]n puhelu"),
    ("Lahti", "Lahden osoite", "[poistettu]n osoite"),
    ("Lahti", "Lahdelle lähetetty", "[poistettu]lle lähetetty"),
    ("Lahti", "Lahteen", "[poistettu]en"),
    # A place name that is a surname goes too: "in Lahti" and "at Lahti's"
    # are the same word, and a name left behind is the worse mistake.
    ("Lahti", "asuu Lahdessa", "asuu [poistettu]ssa"),
    ("Mäki", "Mäen puhelu", "[poistettu]n puhelu"),
    ("Mäki", "Mäkeä ei tavoitettu", "[poistettu]ä ei tavoitettu"),
    ("Mäki", "Mäellä ei ollut", "[poistettu]llä ei ollut"),
    ("Lampi", "Lammen osoite", "[poistettu]n osoite"),
    ("Saari", "Saarta ei tavoitettu", "[poistettu]ta ei tavoitettu"),
    # -o, -a: the weak grade; -a names of three syllables, the o-plural.
    ("Aalto", "Aallon osoite", "[poistettu]n osoite"),
    ("Räty", "Rädylle soitettu", "[poistettu]lle soitettu"),
    ("Hakala", "kirje Hakaloille", "kirje [poistettu]ille"),
    ("Heikkilä", "Heikkilöiden lapset", "[poistettu]iden lapset"),
    # Each part of a double name, and the double name as one.
    ("Mäki-Virtanen", "Mäki-Virtaselle", "[poistettu]lle"),
    ("Korhonen-Lahti", "Lahden Korhoset", "[poistettu]n [poistettu]t"),
    # Found by their beginning, as before.
    ("Laine", "Laineen puhelu", "[poistettu]en puhelu"),
    ("Aho", "Aholle soitettu", "[poistettu]lle soitettu"),
    ("Mäki", "Mäkiä etsittiin", "[poistettu]ä etsittiin"),
]

FIRST_NAMES_FOUND = [
    ("Matti", "Matin puhelu", "[poistettu]n puhelu"),
    ("Matti", "Matille soitettu", "[poistettu]lle soitettu"),
    ("Pekka", "Pekan osoite", "[poistettu]n osoite"),
    ("Pekka", "Pekallakin", "[poistettu]llakin"),
    ("Jukka", "Jukan puhelu", "[poistettu]n puhelu"),
    ("Outi", "Outin puhelu", "[poistettu]n puhelu"),
    ("Outi", "Oudin puhelu", "[poistettu]n puhelu"),
    ("Heikki", "Heikille", "[poistettu]lle"),
    ("Jaakko", "Jaakolta tuli", "[poistettu]lta tuli"),
    ("Antti", "Antin puhelu", "[poistettu]n puhelu"),
    ("Atte", "Atelle soitettu", "[poistettu]lle soitettu"),
    ("Markus", "Markuksen puhelu", "[poistettu]n puhelu"),
    ("Tuomas", "Tuomakselle", "[poistettu]lle"),
]


@pytest.mark.parametrize(("name", "note", "after"), LAST_NAMES_FOUND)
def test_an_inflected_last_name_is_erased(note_after_erasure, name, note, after):
    assert note_after_erasure(note, last_name=name) == after


@pytest.mark.parametrize(("name", "note", "after"), FIRST_NAMES_FOUND)
def test_an_inflected_first_name_is_erased(note_after_erasure, name, note, after):
    assert note_after_erasure(note, first_name=name) == after


#: (last name, a note that must come out as it was).
LAST_NAMES_NOT_FOUND = [
    ("Koski", "Pyyntö koskee laskua"),
    ("Koski", "Koskevat tiedot lähetetty"),
    ("Koski", "Koskela soitti"),
    ("Koski", "koskettaa monia"),
    ("Virtanen", "Virtasalo soitti"),
    ("Mäki", "Mäenpää soitti"),
    ("Mäki", "Kotimäen puhelu"),
    ("Mäki", "Mäkelä soitti"),
    ("Niemi", "Niemelä soitti"),
    ("Lahti", "Lahdenperä soitti"),
]

FIRST_NAMES_NOT_FOUND = [
    ("Matti", "materiaali lähetetty"),
    ("Matti", "matemaattinen virhe"),
    ("Matti", "hiljaista matinaa"),
    ("Anna", "annoin ohjeet"),
    ("Lotta", "lottoja ei myydä"),
    ("Aki", "soitti aina"),
    ("Pekka", "pekonia ostettu"),
    # A first name's weak grade or e-stem would be another name.
    ("Mika", "Soitettu Mialle"),
    ("Heli", "Helenan puhelu"),
    ("Jani", "Janen puhelu"),
]


@pytest.mark.parametrize(("name", "note"), LAST_NAMES_NOT_FOUND)
def test_a_word_that_only_looks_like_the_last_name_stays(note_after_erasure, name, note):
    assert note_after_erasure(note, last_name=name) == note


@pytest.mark.parametrize(("name", "note"), FIRST_NAMES_NOT_FOUND)
def test_a_word_that_only_looks_like_the_first_name_stays(note_after_erasure, name, note):
    assert note_after_erasure(note, first_name=name) == note


@pytest.mark.parametrize(
    ("name", "stems"),
    [
        ("Virtanen", {"virtase", "virtas", "virtasi"}),
        ("Koski", {"koske"}),
        ("Niemi", {"nieme"}),
        ("Lahti", {"lahte", "lahde", "lahdi"}),
        ("Mäki", {"mäke", "mäe", "mäi"}),
        ("Lampi", {"lampe", "lamme", "lammi"}),
        ("Saari", {"saare", "saar"}),
        ("Matti", {"mati"}),
        ("Outi", {"oute", "oude", "oudi"}),
        ("Pekka", {"peka"}),
        ("Aalto", {"aallo"}),
        ("Räty", {"rädy"}),
        ("Atte", {"ate"}),
        ("Markus", {"markukse", "markuksi"}),
        ("Hakala", {"hakalo"}),
        # Found by their beginning, or too short or unknown to inflect.
        ("Laine", set()),
        ("Jussi", set()),
        ("Aho", set()),
        ("Aki", set()),
        ("Lindqvist", set()),
    ],
)
def test_the_stems_of_the_common_name_types(name, stems):
    assert set(finnish_name_stems(name)) == stems


@pytest.mark.parametrize(
    ("name", "stems"),
    [
        ("Matti", {"mati"}),
        ("Outi", {"oudi"}),
        ("Pekka", {"peka"}),
        # A single consonant of a first name not in -i stays (Mika -> Mia is
        # someone else), and a first name has no e-stem (Heli -> Helena).
        ("Mika", set()),
        ("Heli", set()),
        ("Kaarina", set()),
    ],
)
def test_the_stems_of_first_names(name, stems):
    assert set(finnish_name_stems(name, last_name=False)) == stems


def test_a_weak_stem_takes_only_the_endings_of_a_closed_syllable():
    """Lahden, Lahdella; but Lahtea, Lahteen. That keeps "matina" from Matti."""
    lahti, matti = finnish_name_stems("Lahti"), finnish_name_stems("Matti")
    assert {"n", "lla", "ssa"} <= set(lahti["lahde"]) and "a" not in lahti["lahde"]
    assert {"a", "en"} <= set(lahti["lahte"]) and "n" not in lahti["lahte"]
    assert "na" not in matti["mati"]
