"""Constructions the rules read, each with sentences written for this file (not taken
from tests/data/*.jsonl) against the reference home, without a model.

Each group is one mechanism: a kind word used as a verb, what an area's on/off moves,
a room word around a name, "stop doing it" said with a negation, a value that says where
a relative change ends, number words with punctuation, a reason after a command, a list
item said as "it", and a clause that sets the scene for a command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config.settings import load_settings
from daemon.core.vocabulary import ACTUATING, Value
from daemon.pipeline.engines import home_registry
from daemon.understanding.engine import IntentEngine, Understood
from daemon.understanding.lang import normalize
from daemon.understanding.setting import lend, states

HOME = Path(__file__).resolve().parent / "data" / "home.toml"

Triple = tuple[str, tuple[str, ...], Value]


@pytest.fixture(scope="module")
def engine() -> IntentEngine:
    return IntentEngine(home_registry(load_settings(HOME)))


def _triples(u: Understood) -> list[Triple]:
    return [(c.action, c.devices, c.value) for c in u.decision.commands]


def _acting(u: Understood | None, also: frozenset[str] = frozenset()) -> list[Triple]:
    """The commands that move something (and `also` these actions)."""
    return [t for t in (_triples(u) if u is not None else []) if t[0] in ACTUATING | also]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A kind word before its object is the verb, not a device of that kind.
        ("the porch light, switch it on", ("turn_on", ("porch_light",), None)),
        ("switch the desk lamp on", ("turn_on", ("desk_lamp",), None)),
        # "lock [the] {name}" is Home Assistant's own template: a verb, in any order.
        ("front door, lock it now", ("lock", ("front_door_lock",), None)),
        # An area where nothing turns on: what opens there (HassTurnOn on a cover).
        ("开一下车库", ("open", ("garage_door",), None)),
        ("车库关上吧", ("close", ("garage_door",), None)),
        # "stop doing it" said with a negation turns the device off.
        ("风扇别吹了", ("turn_off", ("bedroom_fan",), None)),
        ("电视别响了吧", ("turn_off", ("tv",), None)),
        # A value alone after a relative change says where the change ends.
        ("turn the tv up, volume forty", ("set_volume", ("tv",), 40)),
        ("把卧室灯调暗一点，亮度二十", ("set_brightness", ("bedroom_light",), 20)),
        # No verb: a device and where it goes.
        ("heating to 19", ("set_temperature", ("thermostat",), 19)),
        ("put the desk lamp at full brightness", ("set_brightness", ("desk_lamp",), 100)),
        # Number words with punctuation after them, or a hyphen inside.
        ("set the tv volume to thirty-five, please", ("set_volume", ("tv",), 35)),
        # A reason after the command is not a second command.
        ("turn on the desk lamp, I want to read", ("turn_on", ("desk_lamp",), None)),
        ("set the heating to 21, I'm cold", ("set_temperature", ("thermostat",), 21)),
        # Speech recognisers write "of" for the particle "off".
        ("turn the porch light of", ("turn_off", ("porch_light",), None)),
        # On/off said of a property with its own on/off: the property's action.
        ("turn the sound off on the tv", ("mute", ("tv",), None)),
        ("把电视的声音打开", ("unmute", ("tv",), None)),
        # "Play music" starts what a media player plays (no media search: resume).
        ("could you play a little music on the tv", ("resume", ("tv",), None)),
        ("电视放首歌吧", ("resume", ("tv",), None)),
        # "if" after "tell me" asks a question; it supposes nothing.
        ("can you tell me if the porch light is on", ("query", ("porch_light",), None)),
        # A timer by its words, in no template's order.
        ("timer, seven minutes", ("start_timer", (), 420)),
        ("could you time 12 minutes", ("start_timer", (), 720)),
        ("定个二十分钟的闹钟", ("start_timer", (), 1200)),
        ("ditch the timer", ("cancel_timer", (), None)),
        ("how much time is left on my timer", ("timer_status", (), None)),
        # The top of a range, said as a superlative.
        ("put the bedroom fan all the way up", ("set_speed", ("bedroom_fan",), 3)),
        ("卧室风扇开到最大", ("set_speed", ("bedroom_fan",), 3)),
        # Other verbs of off.
        ("shut off the kitchen light", ("turn_off", ("kitchen_light",), None)),
        ("kill the tv", ("turn_off", ("tv",), None)),
        # Where a change ends: "up to 22" is a setting.
        ("turn the heating up to 22", ("set_temperature", ("thermostat",), 22)),
        ("turn the bedroom fan up to 2", ("set_speed", ("bedroom_fan",), 2)),
        # A door closed is locked.
        ("close the front door", ("lock", ("front_door_lock",), None)),
        # A position said as a share ("kai yiban": open half way).
        ("窗帘开一半", ("set_position", ("curtains",), 50)),
        # A scene with its device, then what to do with it.
        ("电视太吵了，调小一点", ("change_volume", ("tv",), -10)),
        # A verb Home Assistant uses for one of this device's actions, whatever else.
        ("roomba, start", ("start", ("robot_vacuum",), None)),
    ],
)
def test_construction(engine: IntentEngine, text: str, expect: Triple) -> None:
    u = engine.understand(text)
    assert (u.engine, _triples(u)) == ("rules", [expect])


@pytest.mark.parametrize(
    "text",
    [
        "门别锁了",  # "bie suo le": lock is a verb of an action, so this stays a negation
        "你别说了",  # "you, stop talking" names no device
        "turn off the hallway",  # an area's off never unlocks its door
        "关掉门厅",
        "start the timer for the roomba",  # "timer" says something the vacuum lacks
        # Somebody else's words: told, muttered, quoted, relayed.
        "my neighbour told me you can open the garage door from an app",
        "he keeps muttering 'unlock the front door' in his sleep",
        "我老婆让我把车库门打开",
        # What nearly happened did not.
        "I nearly left the garage door open last night",
        "我刚才差点把车库门开着就走了",
        "我妈说让你把车库门打开",
        # A state, not a command.
        "the front door is open",
        # A lock's name inside a longer word, a verb elsewhere: "the gate of the estate".
        "小区大门口新开了一家面馆",
    ],
)
def test_nothing_sensitive_and_nothing_unasked(engine: IntentEngine, text: str) -> None:
    u = engine.understand(text)
    assert all(c.action not in ("unlock", "open", "start") for c in u.decision.commands)
    if text.startswith(("门", "你")):
        assert not {c.action for c in u.decision.commands} & ACTUATING


@pytest.mark.parametrize(
    "text",
    [
        "switch on the bathroom lamp",  # no bathroom: not the bedroom's, spelt alike
        "把阳台灯打开",  # no balcony: "taideng" across "yangtai deng" is no desk lamp
        "good night",  # "night" heads one scene's name; it names no place's devices
        "make the bedroom light brown",  # no light here takes brown: unknown, not on
        "卧室灯调成灰色",
    ],
)
def test_words_of_the_language_are_not_the_homes(engine: IntentEngine, text: str) -> None:
    u = engine.understand(text)
    assert not {c.action for c in u.decision.commands} & ACTUATING, _triples(u)


def test_a_list_item_said_as_it_is_left_to_the_model(engine: IntentEngine) -> None:
    """The rules cannot tell what "it" is; without a model that is an honest unknown,
    never "it" on the list."""
    u = engine.understand("we ran out of eggs, put it on the shopping list")
    assert all(c.value != "it" for c in u.decision.commands)
    assert u.engine == "rules" and _triples(u) == [("unknown", (), None)]


@pytest.mark.parametrize(
    ("text", "absolute"),
    [
        ("bring the fan up to speed 2", True),
        ("put the tv at volume 30", True),
        ("turn the fan up by 1", False),
        ("电视音量调到20", True),
    ],
)
def test_where_a_number_goes(engine: IntentEngine, text: str, absolute: bool) -> None:
    lang = "zh" if not text.isascii() else "en"
    assert engine.hint(normalize(text, lang), lang, None).absolute is absolute


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A clause that sets the scene lends its place to the command after it...
        (
            "it's pitch black in the study, lights on",
            ("turn_on", ("desk_lamp", "study_ceiling_light"), None),
        ),
        ("书房太黑了，把灯打开", ("turn_on", ("desk_lamp", "study_ceiling_light"), None)),
        # ... or its device to the command's "it".
        ("the fan is driving me mad, switch it off", ("turn_off", ("bedroom_fan",), None)),
        ("电视太吵了，把它关掉", ("turn_off", ("tv",), None)),
    ],
)
def test_a_scene_clause_lends_its_place_or_device(
    engine: IntentEngine, text: str, expect: Triple
) -> None:
    u = engine.understand(text)
    assert (u.engine, _triples(u)) == ("rules", [expect])


@pytest.mark.parametrize(
    "text",
    [
        # After the command, a place is where the speaker goes, not where it applies.
        "turn off the lights, I'm heading upstairs",
        # A negated scene is judged on its own clause.
        "it isn't dark in the study, lights on",
        # The command has its own place.
        "it's cold in the bedroom, turn on the kitchen light",
        # Three clauses: which one the scene is about is not settled.
        "it's dark in the study, lights on, and the fan off",
    ],
)
def test_a_scene_lends_nothing_it_should_not(engine: IntentEngine, text: str) -> None:
    norm = normalize(text, "en")
    assert lend(norm, "en", lambda c: engine.fast.targets.mentions(c, "en")) == norm


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("把大门关上", "lock"),  # close the front door: locked, never unlocked
        ("大门开一下", "unlock"),  # open it a moment
        ("把门锁锁上", "lock"),
        ("快递到了，帮我把大门打开", "unlock"),
    ],
)
def test_a_door_closed_is_locked(text: str, action: str) -> None:
    """On/off templates reach a lock; the verb around its name says which way."""
    home = HOME.parent / "wide" / "home-apartment.toml"
    u = IntentEngine(home_registry(load_settings(home))).understand(text)
    assert _triples(u) == [(action, ("door_lock",), None)]


def test_a_particle_before_something_else_is_a_preposition() -> None:
    """ "off" is the verb of "breeze off", not of "a breeze coming off the lake"."""
    home = HOME.parent / "wide" / "home-cabin.toml"
    engine = IntentEngine(home_registry(load_settings(home)))
    u = engine.understand("there's a lovely breeze coming off the lake this evening")
    assert not {c.action for c in u.decision.commands} & ACTUATING, _triples(u)
    assert _triples(engine.understand("breeze off please")) == [("turn_off", ("breeze",), None)]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # Two modifiers of one head: two devices.
        (
            "switch on the kitchen and bedroom lights",
            [("turn_on", ("kitchen_light",), None), ("turn_on", ("bedroom_light",), None)],
        ),
        # A later clause that names nothing is about the device before it.
        (
            "turn on the tv, set the volume to twenty",
            [("turn_on", ("tv",), None), ("set_volume", ("tv",), 20)],
        ),
        # Targets before the verb that is about them all.
        (
            "把台灯和卧室灯一起关掉",
            [("turn_off", ("desk_lamp",), None), ("turn_off", ("bedroom_light",), None)],
        ),
    ],
)
def test_one_verb_for_several_targets(
    engine: IntentEngine, text: str, expect: list[Triple]
) -> None:
    assert _triples(engine.understand(text)) == expect


def test_a_negated_timer_starts_nothing(engine: IntentEngine) -> None:
    for text in ("don't set a timer for 5 minutes", "别定十分钟的闹钟"):
        assert {c.action for c in engine.understand(text).decision.commands} <= {"chat"}


LIGHTS = (
    "living_room_light", "kitchen_light", "bedroom_light", "desk_lamp", "study_ceiling_light",
    "porch_light",
)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "action", "left_out"),
    [
        ("switch every light off apart from the desk lamp", "turn_off", {"desk_lamp"}),
        ("all lights on but not the porch light", "turn_on", {"porch_light"}),
        ("除了书房，其余的灯全部打开", "turn_on", {"desk_lamp", "study_ceiling_light"}),
        ("把除了卧室灯以外的灯都关了", "turn_off", {"bedroom_light"}),
    ],
)
def test_an_exception_is_taken_out_of_the_group(
    engine: IntentEngine, text: str, action: str, left_out: set[str]
) -> None:
    (command,) = engine.understand(text).decision.commands
    assert command.action == action
    assert set(command.devices) == set(LIGHTS) - left_out


def test_an_exception_ends_where_the_next_command_starts(engine: IntentEngine) -> None:
    text = "turn off all the lights except the kitchen light and lock the front door"
    got = _triples(engine.understand(text))
    assert ("lock", ("front_door_lock",), None) in got
    (off,) = [t for t in got if t[0] == "turn_off"]
    assert set(off[1]) == set(LIGHTS) - {"kitchen_light"}


@pytest.mark.parametrize(
    "text", ["turn off the lights except on weekends", "everything except what I said"]
)
def test_an_exception_that_names_nothing_of_the_home_is_none(text: str) -> None:
    from daemon.understanding.exclusion import set_apart

    assert set_apart(text, "en", lambda c: "light" in c) is None


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # The activity names the kind of device and its start action...
        ("vacuum the bedroom", ("start", ("robot_vacuum",), None)),
        ("could you start hoovering", ("start", ("robot_vacuum",), None)),
        ("开始扫地", ("start", ("robot_vacuum",), None)),
        ("water the garden", ("open", ("sprinkler",), None)),
        # ... or, after a verb of stopping, its stop action: no negation.
        ("please stop hoovering", ("stop", ("robot_vacuum",), None)),
        ("stop watering the garden", ("close", ("sprinkler",), None)),
        ("停止扫地", ("stop", ("robot_vacuum",), None)),
    ],
)
def test_a_device_ordered_by_what_it_does(engine: IntentEngine, text: str, expect: Triple) -> None:
    assert _triples(engine.understand(text)) == [expect]


@pytest.mark.parametrize(
    "text",
    [
        "the bedroom is clean now",  # a statement: the activity is not at the head
        "the kids are watering the garden",
        "don't start vacuuming",  # negated
        "clean the oven",  # an object that is not of the home
        "water the tomatoes",
    ],
)
def test_an_activity_not_ordered_moves_nothing(engine: IntentEngine, text: str) -> None:
    assert not {c.action for c in engine.understand(text).decision.commands} & ACTUATING


def test_places_that_share_a_kind_word(engine: IntentEngine) -> None:
    got = _triples(engine.understand("turn off the bedroom and study lights"))
    assert {d for _, devices, _ in got for d in devices} == {
        "bedroom_light", "desk_lamp", "study_ceiling_light"
    }  # fmt: skip
    assert {a for a, _, _ in got} == {"turn_off"}


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A word of one device's name before a kind word names that device.
        ("switch on the ceiling light", ("turn_on", ("study_ceiling_light",), None)),
        ("turn the washing appliance on", ("start", ("washing_machine",), None)),
        # The preposition before such a name is the verb's ("put ... on the ... list").
        ("put batteries on the shopping list", ("add_item", ("shopping_list",), "batteries")),
    ],
)
def test_a_word_of_a_name_before_a_kind_word(
    engine: IntentEngine, text: str, expect: Triple
) -> None:
    assert _triples(engine.understand(text)) == [expect]


def test_a_word_of_several_names_is_no_name(engine: IntentEngine) -> None:
    # "kitchen" names a place as well as a light: a place word is no word of a name.
    got = _triples(engine.understand("turn off the kitchen lights"))
    assert got == [("turn_off", ("kitchen_light",), None)]


@pytest.mark.parametrize(
    "text",
    [
        # What someone did is told, not asked for.
        "I turned the tv off before I left",
        "the kids left the porch light on all night",
        "we already locked the front door",
        "我昨天把电视关了",
        # Hearsay: "X said to ...".
        "我老公说把前门打开",
        # Somebody else's words, with or without "to" after "said".
        "my brother said turn off the porch light but he's still out",
        "房东说暖气要一直开着",
        "他刚才喊了一句“把灯全关了”",
        # A report in the perfect, or of what is already done.
        "they've taken the curtains down at last",
        "yesterday I already off the porch light",
        "我刚才已经把大门锁好了",
    ],
)
def test_a_narrative_or_hearsay_moves_nothing(engine: IntentEngine, text: str) -> None:
    assert not {c.action for c in engine.understand(text).decision.commands} & ACTUATING


def test_a_narrative_clause_leaves_the_command_beside_it(engine: IntentEngine) -> None:
    got = _triples(engine.understand("I left the porch light on, turn it off"))
    assert got == [("turn_off", ("porch_light",), None)]
    # Insisting is no hearsay: "I said ..." is the speaker's own order.
    got = _triples(engine.understand("I said turn off the tv"))
    assert got == [("turn_off", ("tv",), None)]
    # A relative clause is no narrative: the order is not refused.
    from daemon.understanding.policy import mood

    assert not mood("turn off the porch light I left on", "en").negated


def test_up_here_is_a_place_not_a_way() -> None:
    from daemon.understanding.lang import direction

    assert direction("make it a bit warmer down here", "en") == 1
    assert direction("it's too loud up there", "en") == -1
    assert direction("turn it down", "en") == -1


def test_a_request_made_only_of_statements() -> None:
    assert states("the living room is freezing", "en")
    assert states("it's pitch dark in the guest room", "en")
    assert states("the tv is too loud", "en") and not states("turn it down", "en")
    assert not states("turn on the light", "en")


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # An amount before the comparative.
        ("make it 3 degrees warmer", ("change_temperature", ("thermostat",), 3)),
        ("make the tv 20 percent louder", ("change_volume", ("tv",), 20)),
        # What an activity works on is no place.
        ("water the lawn", ("open", ("sprinkler",), None)),
        ("vacuum the floors", ("start", ("robot_vacuum",), None)),
        # What the home has run out of goes on the shopping list.
        ("we're out of oat milk", ("add_item", ("shopping_list",), "oat milk")),
        ("酱油没了", ("add_item", ("shopping_list",), "酱油")),
    ],
)
def test_amounts_objects_and_shortages(engine: IntentEngine, text: str, expect: Triple) -> None:
    assert _triples(engine.understand(text)) == [expect]


@pytest.mark.parametrize("text", ["I'm out of time", "we're out of the kitchen", "手机没电了"])
def test_what_is_no_thing_to_buy(engine: IntentEngine, text: str) -> None:
    assert "add_item" not in {c.action for c in engine.understand(text).decision.commands}


def test_a_word_every_device_of_a_kind_has(tmp_path: Path) -> None:
    home = tmp_path / "home.toml"
    home.write_text(
        '[[floors]]\nid = "ground"\nname = "ground floor"\n'
        '[[areas]]\nid = "kitchen"\nname = "kitchen"\nfloor = "ground"\n'
        '[[areas]]\nid = "bedroom"\nname = "bedroom"\nfloor = "ground"\n'
        '[[devices]]\nid = "k"\ntype = "climate"\nname = "kitchen floor heating"\n'
        'area = "kitchen"\n'
        '[[devices]]\nid = "b"\ntype = "climate"\nname = "bedroom floor heating"\n'
        'area = "bedroom"\n'
    )
    engine = IntentEngine(home_registry(load_settings(home)))
    (c,) = engine.understand("set all the floor heating to 20").decision.commands
    assert (c.action, set(c.devices), c.value) == ("set_temperature", {"k", "b"}, 20)


def _brand_home(tmp_path: Path) -> IntentEngine:
    home = tmp_path / "home.toml"
    home.write_text(
        '[[areas]]\nid = "lounge"\nname = "lounge"\n'
        '[[areas]]\nid = "kitchen"\nname = "kitchen"\n'
        '[[areas]]\nid = "nursery"\nname = "nursery"\n'
        '[[devices]]\nid = "kettle"\ntype = "switch"\nname = "kettle plug"\narea = "kitchen"\n'
        '[[devices]]\nid = "counter"\ntype = "light"\nname = "under-cabinet lights"\n'
        'area = "kitchen"\n'
        '[[devices]]\nid = "tv"\ntype = "media_player"\nname = "Panasonic TV"\n'
        'area = "lounge"\n'
        '[[devices]]\nid = "bar"\ntype = "media_player"\nname = "Bose Soundbar"\n'
        'aliases = ["soundbar"]\narea = "lounge"\n'
        '[[devices]]\nid = "fan"\ntype = "fan"\nname = "lounge fan"\narea = "lounge"\n'
        "speeds = 4\n"
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "lounge lamp"\narea = "lounge"\n'
        "color = true\n"
        '[[devices]]\nid = "ann"\ntype = "light"\nname = "Ann\'s night light"\n'
        'area = "nursery"\ncolor = true\n'
        '[[devices]]\nid = "bob"\ntype = "light"\nname = "Bob\'s night light"\n'
        'area = "nursery"\ncolor = true\n'
    )
    return IntentEngine(home_registry(load_settings(home)))


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # A name said without the kind word it ends in, where a target stands.
        ("put the kettle on", None, [("turn_on", ("kettle",), None)]),
        ("is the kettle on?", None, [("query", ("kettle",), None)]),
        ("pause the Panasonic", None, [("pause", ("tv",), None)]),
        ("switch on the under cabinet", None, [("turn_on", ("counter",), None)]),
        # A name beside a kind word: both, the kind resolved where it is said.
        ("turn the TV and the soundbar off", None, [("turn_off", ("bar", "tv"), None)]),
        (
            "turn off the soundbar and the fan",
            "lounge",
            [("turn_off", ("bar",), None), ("turn_off", ("fan",), None)],
        ),
        # Two possessives before one head noun.
        ("make Ann's and Bob's night lights pink", None, [("set_color", ("ann", "bob"), "pink")]),
        # As far as it goes.
        ("turn the lounge fan up to full", None, [("set_speed", ("fan",), 4)]),
        ("set the lounge lamp to full brightness", None, [("set_brightness", ("lamp",), 100)]),
    ],
)
def test_names_and_kinds_side_by_side(
    tmp_path: Path, text: str, area: str | None, expect: list[Triple]
) -> None:
    got = _brand_home(tmp_path).understand(text, area)
    assert [(a, tuple(sorted(d)), v) for a, d, v in _triples(got)] == [
        (a, tuple(sorted(d)), v) for a, d, v in expect
    ]


def test_a_name_without_its_kind_word_is_no_name_after_a_preposition(tmp_path: Path) -> None:
    # "for the night" is no "night light": the lights said are every light.
    targets = _brand_home(tmp_path).fast.targets
    m = targets.mentions("turn off every light for the night", "en")
    assert m.devices == () and m.kinds == {"counter", "lamp", "ann", "bob"}


@pytest.mark.parametrize(
    "text",
    [
        # Irony: praise that means the opposite of the command beside it.
        "oh brilliant, open the garage door while it's pouring, great idea",
        "真是个好主意，把前门打开吧",
    ],
)
def test_irony_moves_nothing(engine: IntentEngine, text: str) -> None:
    u = engine.understand(text)
    assert not {c.action for c in u.decision.commands} & ACTUATING, _triples(u)


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # An apology with nothing after it takes nothing back.
        ("turn on the porch light, sorry", None, [("turn_on", ("porch_light",), None)]),
        # A statement that only says "here" is a reason, whatever "here" is.
        (
            "open the curtains, the delivery man is here",
            None,
            [("open", ("curtains",), None)],
        ),
        # "In here" in the scene adds nothing to the speaker's own room.
        (
            "it's a bit dark in here, brighten it up",
            "study",
            [("change_brightness", ("desk_lamp",), 10)],  # the ceiling light only switches
        ),
        ("brighten the bedroom light up", None, [("change_brightness", ("bedroom_light",), 10)]),
        # English names right against Chinese characters.
        ("把tv关掉", None, [("turn_off", ("tv",), None)]),
        ("bedroom 的 light 关掉", None, [("turn_off", ("bedroom_light",), None)]),
        ("is the washing machine done yet?", None, [("query", ("washing_machine",), None)]),
    ],
)
def test_around_the_command(
    engine: IntentEngine, text: str, area: str | None, expect: list[Triple]
) -> None:
    got = engine.understand(text, area)
    assert [(a, tuple(sorted(d)), v) for a, d, v in _triples(got)] == [
        (a, tuple(sorted(d)), v) for a, d, v in expect
    ]


def test_a_trailing_no_wait_still_calls_off(engine: IntentEngine) -> None:
    u = engine.understand("turn on the porch light, no wait")
    assert not {c.action for c in u.decision.commands} & ACTUATING


def test_a_half_verb_of_a_template_is_no_verb(engine: IntentEngine) -> None:
    # Home Assistant's "get every light out" makes "get out" a verb of turn_off, not "get".
    u = engine.understand("get the coffee maker going")
    assert "turn_off" not in {c.action for c in u.decision.commands}


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A device said to do too much of what it does: one step the other way.
        ("the telly is way too loud", [("change_volume", ("tv",), -10)]),
        ("电视太吵了", [("change_volume", ("tv",), -10)]),
        # ... not a property it has not got, and not a place.
        ("the telly is too bright", []),
        ("the living room is too cold", []),
        # A name said first, then what to do with it.
        ("扫地机，回去充电吧", [("return_to_base", ("robot_vacuum",), None)]),
        # Mixed: Chinese discourse words around an English command; English words in a
        # Chinese one.
        ("好了，turn off the telly", [("turn_off", ("tv",), None)]),
        ("帮我 set 一个十分钟的 timer", [("start_timer", (), 600)]),
        ("电视先停一下", [("pause", ("tv",), None)]),
        ("resume playing in the kitchen", [("resume", ("kitchen_speaker",), None)]),
        # "ge" is "a"; "yi ba" (a bunch) is how much, said.
        ("购物清单里加个鸡蛋", [("add_item", ("shopping_list",), "鸡蛋")]),
    ],
)
def test_complaints_and_mixed_speech(engine: IntentEngine, text: str, expect: list[Triple]) -> None:
    assert _acting(engine.understand(text), frozenset({"start_timer"})) == expect


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A device ordered by what it makes: part of its name.
        ("make me a coffee", [("turn_on", ("coffee_maker",), None)]),
        ("brew some coffee please", [("turn_on", ("coffee_maker",), None)]),
        ("帮我煮杯咖啡", [("turn_on", ("coffee_maker",), None)]),
        # Not what no device makes, not a target, not a narrative or a negation.
        ("make the bed", []),
        ("make it warmer", [("change_temperature", ("thermostat",), 1)]),
        ("I made coffee", []),
        ("don't make coffee", []),
    ],
)
def test_a_device_ordered_by_what_it_makes(
    engine: IntentEngine, text: str, expect: list[Triple]
) -> None:
    assert _acting(engine.understand_fast(text)) == expect


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A cover and its way, with no verb.
        ("living room curtains up", [("open", ("curtains",), None)]),
        ("curtains all the way down", [("close", ("curtains",), None)]),
        # "can I", and "get" as the verb of on/off.
        ("can I get the porch light on", [("turn_on", ("porch_light",), None)]),
        # An advice question asks for nothing.
        ("is it safe to leave the tv on overnight?", []),
        # After a list command, an item and another list.
        (
            "add milk to the shopping list and batteries to the shopping list",
            [
                ("add_item", ("shopping_list",), "milk"),
                ("add_item", ("shopping_list",), "batteries"),
            ],
        ),
    ],
)
def test_covers_politeness_advice_and_lists(
    engine: IntentEngine, text: str, expect: list[Triple]
) -> None:
    assert _acting(engine.understand(text)) == expect


def test_in_leads_into_a_place_with_no_article(tmp_path: Path) -> None:
    home = tmp_path / "home.toml"
    home.write_text(
        '[[areas]]\nid = "maya"\nname = "Maya\'s room"\n'
        '[[areas]]\nid = "den"\nname = "den"\n'
        '[[devices]]\nid = "m1"\ntype = "light"\nname = "cloud lamp"\narea = "maya"\n'
        '[[devices]]\nid = "m2"\ntype = "light"\nname = "ceiling light"\narea = "maya"\n'
        '[[devices]]\nid = "d1"\ntype = "light"\nname = "den light"\narea = "den"\n'
    )
    engine = IntentEngine(home_registry(load_settings(home)))
    (c,) = engine.understand("is the light on in Maya's room?").decision.commands
    assert (c.action, set(c.devices)) == ("query", {"m1", "m2"})


def _engine_for(tmp_path: Path, toml: str) -> IntentEngine:
    """The rules of a home written for one test."""
    home = tmp_path / "home.toml"
    home.write_text(toml)
    return IntentEngine(home_registry(load_settings(home)))


def _townhouse(tmp_path: Path) -> IntentEngine:
    """A home whose names are written in traditional characters, with two desk lamps,
    a water heater beside the sprinklers, and locks beside a garage door."""
    return _engine_for(
        tmp_path,
        '[[areas]]\nid = "study"\nname = "study"\naliases = ["\u66f8\u623f"]\n'
        '[[areas]]\nid = "bed"\nname = "bedroom"\naliases = ["\u81e5\u5ba4"]\n'
        '[[areas]]\nid = "kid"\nname = "Ella\'s room"\n'
        '[[areas]]\nid = "yard"\nname = "yard"\n'
        '[[areas]]\nid = "laundry"\nname = "laundry room"\n'
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "study desk lamp"\n'
        'aliases = ["\u66f8\u623f\u6aaf\u71c8"]\narea = "study"\n'
        '[[devices]]\nid = "ella"\ntype = "light"\nname = "Ella\'s desk lamp"\narea = "kid"\n'
        '[[devices]]\nid = "ac"\ntype = "climate"\nname = "bedroom air conditioner"\n'
        'aliases = ["\u81e5\u5ba4\u51b7\u6c23"]\narea = "bed"\n'
        '[[devices]]\nid = "heat"\ntype = "climate"\nname = "thermostat"\n'
        '[[devices]]\nid = "boiler"\ntype = "switch"\nname = "water heater"\narea = "laundry"\n'
        '[[devices]]\nid = "washer"\ntype = "appliance"\nname = "washer"\narea = "laundry"\n'
        '[[devices]]\nid = "dryer"\ntype = "appliance"\nname = "dryer"\narea = "laundry"\n'
        '[[devices]]\nid = "spray"\ntype = "valve"\nname = "sprinklers"\narea = "yard"\n'
        '[[devices]]\nid = "garage"\ntype = "cover"\nname = "garage door"\n'
        '[[devices]]\nid = "front"\ntype = "lock"\nname = "front door"\n'
        '[[devices]]\nid = "back"\ntype = "lock"\nname = "back door"\n'
        '[[devices]]\nid = "list"\ntype = "list"\nname = "shopping list"\n'
        'aliases = ["\u8cfc\u7269\u6e05\u55ae"]\n',
    )


def _simple(u: Understood | None) -> list[tuple[str, frozenset[str], Value]]:
    return [(a, frozenset(d), v) for a, d, v in (_triples(u) if u is not None else [])]


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # Traditional characters, in the request and in the names.
        ("\u628a\u66f8\u623f\u7684\u6aaf\u71c8\u6253\u958b", None, [("turn_on", {"lamp"}, None)]),
        ("\u81e5\u5ba4\u51b7\u6c23\u95dc\u6389", None, [("turn_off", {"ac"}, None)]),
        # A Chinese name made of its room and a noun: the noun alone names it.
        ("\u628a\u51b7\u6c23\u6253\u958b", None, [("turn_on", {"ac"}, None)]),
        # Two names that end in the same two words: those words are a kind.
        ("turn on the desk lamp", None, [("clarify", {"lamp", "ella"}, None)]),
        ("turn on the desk lamp", "study", [("turn_on", {"lamp"}, None)]),
        # A word first in its clause with an object after it is a verb, not the
        # first word of a name.
        ("water the yard", None, [("open", {"spray"}, None)]),
        ("turn on the water heater", None, [("turn_on", {"boiler"}, None)]),
        # "everything" is no activity that a "stop" forbids.
        ("stop everything in the laundry room", None, [("stop", {"washer", "dryer"}, None)]),
        # What a question asks narrows the devices its words cover.
        ("are the doors locked", None, [("query", {"front", "back"}, None)]),
        ("is the garage door open", None, [("query", {"garage"}, None)]),
    ],
)
def test_scripts_shared_tails_and_verbs_first(
    tmp_path: Path, text: str, area: str | None, expect: list[tuple[str, set[str], Value]]
) -> None:
    got = _simple(_townhouse(tmp_path).understand(text, area))
    assert got == [(a, frozenset(d), v) for a, d, v in expect]


def test_a_list_item_keeps_the_script_it_was_said_in(tmp_path: Path) -> None:
    from daemon.config.settings import DialogueSettings
    from daemon.core.messages import Request
    from daemon.dialogue.manager import Dialogue
    from daemon.dialogue.timers import TimerBook
    from daemon.pipeline.turns import play

    d = Dialogue(_townhouse(tmp_path), DialogueSettings(), TimerBook(None), "test")
    text = "\u8cfc\u7269\u6e05\u55ae\u52a0\u91ac\u6cb9"  # add soy sauce, traditionally
    turn = play(d, Request(text=text, source="mqtt", id="r", session="s"))
    (c,) = turn.understood.decision.commands
    assert (c.action, c.devices, c.value) == ("add_item", ("list",), "\u91ac\u6cb9")


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # The assistant's name said before the request.
        ("alexa, turn on the porch light", None, [("turn_on", ("porch_light",), None)]),
        (
            "hey google dim the bedroom light",
            None,
            [("change_brightness", ("bedroom_light",), -10)],
        ),
        (
            "\u5c0f\u7231\u540c\u5b66\uff0c\u6253\u5f00\u95e8\u5eca\u706f",
            None,
            [("turn_on", ("porch_light",), None)],
        ),
        # What plays next or before, and a way with a level.
        ("play the next track", "kitchen", [("next_track", ("kitchen_speaker",), None)]),
        ("go back a song", "kitchen", [("previous_track", ("kitchen_speaker",), None)]),
        ("lower the volume to 15", "kitchen", [("set_volume", ("kitchen_speaker",), 15)]),
        # "hao ma" after a request asks for it politely; it is no question.
        ("\u6253\u5f00\u8f66\u5e93\u95e8\u597d\u5417", None, [("open", ("garage_door",), None)]),
        # What somebody said they did, said by another, asks for nothing.
        ("my husband said he already switched off the porch light", None, []),
        ("she says she left the tv on, turn it off", None, [("turn_off", ("tv",), None)]),
        # A reminder is for later: nothing moves now.
        ("remind me to turn off the porch light at ten", None, []),
        ("\u63d0\u9192\u6211\u7761\u524d\u628a\u95e8\u9501\u4e0a", None, []),
    ],
)
def test_addressees_tracks_reports_and_reminders(
    engine: IntentEngine, text: str, area: str | None, expect: list[Triple]
) -> None:
    assert _acting(engine.understand(text, area)) == expect


def test_the_name_of_an_assistant_only_at_the_start() -> None:
    assert normalize("alexander, turn on the lamp", "en") == "alexander, turn on the lamp"
    assert normalize("OK Google, lights off", "en") == "lights off"
    assert normalize("alexa", "en") == "alexa"  # nothing after it: left as said


def test_a_reminder_is_unknown_on_every_path() -> None:
    from daemon.home.registry import Decision
    from daemon.understanding.policy import Policy

    registry = home_registry(load_settings(HOME))
    asked = Decision.one("turn_off", ("porch_light",))
    for engine_name in ("rules", "model"):
        d = Policy(registry).apply(
            asked, "remind me to turn off the porch light", "en", engine_name
        )
        assert [c.action for c in d.commands] == ["unknown"]


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # A question asked indirectly is a question; wondering what to do asks nothing.
        ("i wonder if the porch light is on", None, [("query", ("porch_light",), None)]),
        ("do you know if I left the tv on", None, [("query", ("tv",), None)]),
        ("I wonder if we should close the garage", None, [("chat", (), None)]),
        # A device and its way, with no verb.
        ("heating up by 2", None, [("change_temperature", ("thermostat",), 2)]),
        ("fan down", None, [("change_speed", ("bedroom_fan",), -1)]),
        # A complaint about a place is about what there does the thing complained of.
        ("it's too bright in here", "bedroom", [("change_brightness", ("bedroom_light",), -10)]),
        ("the kitchen is too dark", None, [("change_brightness", ("kitchen_light",), 10)]),
        ("the tv volume is too low", None, [("change_volume", ("tv",), 10)]),
        # A want for what a machine makes.
        ("I'd like a cup of coffee", None, [("turn_on", ("coffee_maker",), None)]),
    ],
)
def test_indirect_questions_verbless_ways_complaints_and_wants(
    engine: IntentEngine, text: str, area: str | None, expect: list[Triple]
) -> None:
    got = engine.understand(text, area)
    assert _acting(got, frozenset({"query", "chat"})) == expect


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # Commands one after another with nothing between them; a name alone is none.
        (
            "\u5173\u7535\u89c6\u5f00\u7a97\u5e18",
            None,
            [("turn_off", ("tv",), None), ("open", ("curtains",), None)],
        ),
        (
            "lock the front door turn off the porch light",
            None,
            [("lock", ("front_door_lock",), None), ("turn_off", ("porch_light",), None)],
        ),
        # A lock's own name wins over a word a template reads as a kind of door.
        ("\u5f00\u4e00\u4e0b\u5927\u95e8", None, [("unlock", ("front_door_lock",), None)]),
        # "bie de" (the others) is no "bie" (don't).
        (
            "\u9664\u4e86\u5ba2\u5385\u548c\u4e66\u623f\uff0c\u522b\u7684\u706f\u90fd\u5173\u4e86",
            None,
            [("turn_off", ("kitchen_light", "bedroom_light", "porch_light"), None)],
        ),
        # Colloquial verbs and particles; a climate turned up; the top of a volume.
        (
            "\u5367\u5ba4\u706f\u518d\u6697\u70b9\u5457",
            None,
            [("change_brightness", ("bedroom_light",), -10)],
        ),
        (
            "\u628a\u5367\u5ba4\u706f\u6574\u4eae\u4e00\u4e9b",
            None,
            [("change_brightness", ("bedroom_light",), 10)],
        ),
        ("\u6696\u6c14\u5f00\u5927\u70b9", None, [("change_temperature", ("thermostat",), 1)]),
        (
            "\u97f3\u7bb1\u58f0\u97f3\u8c03\u5230\u6700\u5927",
            None,
            [("set_volume", ("kitchen_speaker",), 100)],
        ),
        # A timer by its length alone, and a coffee asked for.
        ("\u5e2e\u6211\u5b9a\u4e94\u5206\u949f", None, [("start_timer", (), 300)]),
        ("timer \u4e09\u5206\u949f", None, [("start_timer", (), 180)]),
        ("\u6765\u676f\u5496\u5561", None, [("turn_on", ("coffee_maker",), None)]),
        # A place and a possessive with no noun: the kind said in the clause set aside.
        (
            "\u522b\u5173\u5ba2\u5385\u7684\u706f\uff0c\u628a\u5367\u5ba4\u7684\u5173\u4e86",
            None,
            [("turn_off", ("bedroom_light",), None)],
        ),
        # Somebody's words about what to do ask for nothing.
        ("\u6211\u5988\u8bf4\u7761\u524d\u8981\u628a\u95e8\u9501\u4e0a", None, []),
        # A list item keeps its amount; "zai jia" adds one more.
        (
            "\u8d2d\u7269\u6e05\u5355\u518d\u52a0\u4e00\u888b\u5927\u7c73",
            None,
            [("add_item", ("shopping_list",), "\u4e00\u888b\u5927\u7c73")],
        ),
        # The assistant's name heard as homophones, and after a greeting.
        (
            "\u5c0f\u827e\u540c\u5b66\uff0c\u6253\u5f00\u95e8\u5eca\u706f",
            None,
            [("turn_on", ("porch_light",), None)],
        ),
        ("Hey \u5c0f\u7231\uff0c\u5173\u7535\u89c6", None, [("turn_off", ("tv",), None)]),
        # A complaint about here, then what to do about it.
        (
            "\u8fd9\u5c4b\u592a\u6697\u4e86\uff0c\u4eae\u4e00\u70b9",
            "bedroom",
            [("change_brightness", ("bedroom_light",), 10)],
        ),
        # A name heard by its sound; a common word that sounds like one is left alone.
        ("turn off the porch lite", None, [("turn_off", ("porch_light",), None)]),
        ("what's the weather like tomorrow", None, []),
    ],
)
def test_run_ons_colloquial_chinese_and_sounds(
    engine: IntentEngine, text: str, area: str | None, expect: list[Triple]
) -> None:
    got = [
        (a, tuple(sorted(d)), v)
        for a, d, v in _acting(engine.understand(text, area), frozenset({"start_timer"}))
    ]
    assert got == [(a, tuple(sorted(d)), v) for a, d, v in expect]


def test_a_kind_word_in_the_other_language(tmp_path: Path) -> None:
    engine = _engine_for(
        tmp_path,
        '[[areas]]\nid = "lr"\nname = "living room"\naliases = ["\u5ba2\u5385"]\n'
        '[[areas]]\nid = "br"\nname = "bedroom"\naliases = ["\u5367\u5ba4"]\n'
        '[[devices]]\nid = "lr_ac"\ntype = "climate"\n'
        'name = "\u5ba2\u5385\u7a7a\u8c03"\narea = "lr"\n'
        '[[devices]]\nid = "br_ac"\ntype = "climate"\n'
        'name = "\u5367\u5ba4\u7a7a\u8c03"\narea = "br"\n'
        '[[devices]]\nid = "heat"\ntype = "climate"\nname = "\u5730\u6696"\n',
    )
    (c,) = engine.understand("\u628a AC \u6253\u5f00").decision.commands
    assert (c.action, set(c.devices)) == ("clarify", {"lr_ac", "br_ac"})
    (c,) = engine.understand("AC \u8c03\u5230 24 \u5ea6", "br").decision.commands
    assert (c.action, c.devices, c.value) == ("set_temperature", ("br_ac",), 24)


def _big_home(tmp_path: Path) -> IntentEngine:
    return _engine_for(
        tmp_path,
        '[[areas]]\nid = "kid"\nname = "Lily\'s room"\n'
        '[[areas]]\nid = "suite"\nname = "primary suite"\n'
        '[[areas]]\nid = "yard"\nname = "yard"\n'
        '[[devices]]\nid = "lily_shade"\ntype = "cover"\nname = "Lily\'s shade"\narea = "kid"\n'
        '[[devices]]\nid = "blackout"\ntype = "cover"\nname = "blackout shades"\narea = "suite"\n'
        '[[devices]]\nid = "lamp"\ntype = "light"\nname = "suite lamp"\narea = "suite"\n'
        '[[devices]]\nid = "xmas"\ntype = "switch"\nname = "Christmas lights"\narea = "yard"\n'
        '[[devices]]\nid = "mower"\ntype = "appliance"\nname = "robot mower"\narea = "yard"\n'
        '[[devices]]\nid = "oven"\ntype = "appliance"\nname = "oven"\n'
        '[[devices]]\nid = "haiku"\ntype = "fan"\nname = "Haiku"\narea = "suite"\n',
    )


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A head noun and its plural are one kind.
        ("close all the shades", [("close", {"lily_shade", "blackout"}, None)]),
        # The language's word for a type is that type's alone.
        ("turn off all the lights", [("turn_off", {"lamp"}, None)]),
        # A verb whose "-er" noun names one machine; a verb of a template does not.
        ("go mow the lawn", [("start", {"mower"}, None)]),
        ("preheat the oven", [("start", {"oven"}, None)]),
        # A name with "a" before it is no device (nothing of the home: the model's, and
        # `unknown` with none).
        ("tell me a haiku", [("unknown", set(), None)]),
        ("Haiku up one", [("change_speed", {"haiku"}, 1)]),
        # A property said of a device that has none.
        ("dim the Christmas lights", [("unknown", set(), None)]),
    ],
)
def test_kinds_agents_articles_and_properties(
    tmp_path: Path, text: str, expect: list[tuple[str, set[str], Value]]
) -> None:
    got = _simple(_big_home(tmp_path).understand(text))
    acting = [t for t in got if t[0] in ACTUATING | {"unknown", "query"}]
    assert acting == [(a, frozenset(d), v) for a, d, v in expect]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A scene said alone beside another command is activated.
        (
            "movie night and pause the kitchen speaker",
            [("activate", ("movie_night",), None), ("pause", ("kitchen_speaker",), None)],
        ),
        # "also" between two commands; "a degree" is one.
        (
            "turn off the tv also the porch light",
            [("turn_off", ("tv",), None), ("turn_off", ("porch_light",), None)],
        ),
        ("make it a degree cooler", [("change_temperature", ("thermostat",), -1)]),
        ("fan up 2", [("change_speed", ("bedroom_fan",), 2)]),
        # Items with commas between them.
        (
            "add apples, pears and milk to the shopping list",
            [
                ("add_item", ("shopping_list",), "apples"),
                ("add_item", ("shopping_list",), "pears"),
                ("add_item", ("shopping_list",), "milk"),
            ],
        ),
        # Liking how something looks asks for nothing.
        ("I love how the bedroom light looks when it's blue", []),
    ],
)
def test_scenes_alone_also_items_and_opinions(
    engine: IntentEngine, text: str, expect: list[Triple]
) -> None:
    assert _acting(engine.understand(text)) == expect


def test_an_item_keeps_its_number_words() -> None:
    from daemon.config.settings import DialogueSettings
    from daemon.core.messages import Request
    from daemon.dialogue.manager import Dialogue
    from daemon.dialogue.timers import TimerBook
    from daemon.pipeline.turns import play

    d = Dialogue(IntentEngine(home_registry(load_settings(HOME))), DialogueSettings(),
                 TimerBook(None), "test")  # fmt: skip
    turn = play(d, Request("add two bags of rice to the shopping list", "mqtt", id="r"))
    assert [c.value for c in turn.understood.decision.commands] == ["two bags of rice"]
    turn = play(d, Request("oh and bread", "mqtt", id="s"))
    assert [c.value for c in turn.understood.decision.commands] == ["bread"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("how come the porch light is still on?", [("query", ("porch_light",), None)]),
        ("let's watch a film, set up movie night", [("activate", ("movie_night",), None)]),
        ("set a timer for an hour and a quarter", [("start_timer", (), 4500)]),
        ("give me ten minutes on the clock", [("start_timer", (), 600)]),
        ("brr, it's chilly, warm the place up a bit", [("change_temperature", ("thermostat",), 1)]),
        ("bit warmer please", [("change_temperature", ("thermostat",), 1)]),
        ("full speed on the fan", [("set_speed", ("bedroom_fan",), 3)]),
        ("chuck bread on the shopping list", [("add_item", ("shopping_list",), "bread")]),
        # A narrative that starts with when it happened asks for nothing.
        ("last night I left the porch light on until morning", []),
        # An English negation right against Chinese words.
        ("don't \u5f00\u8f66\u5e93\u95e8 okay", []),
        # Somebody else's home: none of this one's devices.
        ("turn off the lights at my mum's place", [("unknown", (), None)]),
        ("\u628a\u90bb\u5c45\u5bb6\u7684\u706f\u5173\u4e86", [("unknown", (), None)]),
    ],
)
def test_how_come_set_up_timers_narratives_and_other_homes(
    engine: IntentEngine, text: str, expect: list[Triple]
) -> None:
    got = engine.understand(text)
    assert _acting(got, frozenset({"query", "start_timer", "unknown"})) == expect


def test_a_channel_is_unknown_on_every_path() -> None:
    from daemon.home.registry import Decision
    from daemon.understanding.policy import Policy

    policy = Policy(home_registry(load_settings(HOME)))
    for said in (Decision.one("change_volume", ("tv",), 10), Decision.one("chat")):
        d = policy.apply(said, "switch the tv to channel 4", "en", "model")
        assert [c.action for c in d.commands] == ["unknown"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # "one" after a name's own word stands for its kind word.
        ("is the porch one on", ("query", ("porch_light",), None)),
        ("turn the porch one off", ("turn_off", ("porch_light",), None)),
        # An action said as the state to put a device in.
        ("put the telly on mute", ("mute", ("tv",), None)),
        ("put the speaker on pause", ("pause", ("kitchen_speaker",), None)),
    ],
)
def test_one_for_a_kind_and_a_state_for_an_action(
    engine: IntentEngine, text: str, expect: Triple
) -> None:
    assert _triples(engine.understand(text)) == [expect]


@pytest.mark.parametrize("text", ["kitchen", "the living room", "\u53a8\u623f"])
def test_a_place_alone_turns_nothing_on(engine: IntentEngine, text: str) -> None:
    # Home Assistant's "[the] {name}" turns a device on by its name; a place is no name.
    u = engine.understand_fast(text, None)
    assert u is None or not {c.action for c in u.decision.commands} & ACTUATING


def test_a_types_other_word_means_the_devices_named_so(tmp_path: Path) -> None:
    engine = _engine_for(
        tmp_path,
        """
[[areas]]
id = "bedroom"
name = "bedroom"

[[devices]]
id = "big_light"
type = "light"
name = "bedroom big light"
area = "bedroom"

[[devices]]
id = "his_lamp"
type = "light"
name = "Dave's lamp"
area = "bedroom"

[[devices]]
id = "her_lamp"
type = "light"
name = "Sarah's lamp"
area = "bedroom"
""",
    )
    for text, expect in (
        ("switch the lamps off", {"her_lamp", "his_lamp"}),
        ("switch the lights off", {"big_light", "her_lamp", "his_lamp"}),
    ):
        (c,) = engine.understand(text, "bedroom").decision.commands
        assert (c.action, set(c.devices)) == ("turn_off", expect)


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # "Open"/"close" of a device with nothing to open: Chinese kai/guan said in English.
        ("open the kitchen light", None, ("turn_on", ("kitchen_light",), None)),
        ("close the tv", None, ("turn_off", ("tv",), None)),
        # A value with no verb, its unit or its word said.
        ("thermostat twenty one degree", None, ("set_temperature", ("thermostat",), 21)),
        ("fan high", None, ("set_speed", ("bedroom_fan",), 3)),
        ("put the fan on full blast", None, ("set_speed", ("bedroom_fan",), 3)),
        # Anything that is on somewhere: everything there.
        (
            "is anything still on in the kitchen?",
            None,
            ("query", ("kitchen_light", "kitchen_speaker", "coffee_maker"), None),
        ),
        # A courtesy after the command ("jiu hao": that will do), and "tiao xiao sheng".
        ("声音调小点就好", "living_room", ("change_volume", ("tv",), -10)),
        ("调小声点", "living_room", ("change_volume", ("tv",), -10)),
        # The scene clause names the device; its "tiao" (of kongtiao) is no verb.
        ("空调有点冷，调高一点", None, ("change_temperature", ("thermostat",), 1)),
    ],
)
def test_verbs_of_other_languages_values_and_courtesies(
    engine: IntentEngine, text: str, area: str | None, expect: Triple
) -> None:
    assert _triples(engine.understand(text, area)) == [expect]


def test_anything_is_a_target_only_where_it_stands_for_devices(engine: IntentEngine) -> None:
    (c,) = engine.understand("forget I said anything").decision.commands
    assert not c.devices


def test_a_name_word_written_as_two(tmp_path: Path) -> None:
    engine = _engine_for(
        tmp_path,
        """
[[devices]]
id = "dishwasher"
type = "appliance"
name = "dishwasher"

[[devices]]
id = "washing_machine"
type = "appliance"
name = "washing machine"
aliases = ["washer"]
""",
    )
    assert _triples(engine.understand("the dish washer start")) == [
        ("start", ("dishwasher",), None)
    ]
    assert _triples(engine.understand("start the washer")) == [
        ("start", ("washing_machine",), None)
    ]


def test_upstairs_is_the_floor_above_the_speakers(tmp_path: Path) -> None:
    engine = _engine_for(
        tmp_path,
        """
[[floors]]
id = "f1"
name = "first floor"

[[floors]]
id = "f2"
name = "second floor"

[[floors]]
id = "f3"
name = "third floor"

[[areas]]
id = "hall"
name = "hall"
floor = "f1"

[[areas]]
id = "bedroom"
name = "bedroom"
floor = "f2"

[[areas]]
id = "attic"
name = "attic"
floor = "f3"

[[devices]]
id = "hall_light"
type = "light"
name = "hall light"
area = "hall"

[[devices]]
id = "bedroom_light"
type = "light"
name = "bedroom light"
area = "bedroom"

[[devices]]
id = "attic_light"
type = "light"
name = "attic light"
area = "attic"

[[devices]]
id = "robot"
type = "vacuum"
name = "Roborock Downstairs"
area = "hall"
""",
    )
    assert _triples(engine.understand("turn off the lights upstairs", "bedroom")) == [
        ("turn_off", ("attic_light",), None)
    ]
    assert _triples(engine.understand("\u697c\u4e0b\u7684\u706f\u5173\u4e86", "bedroom")) == [
        ("turn_off", ("hall_light",), None)  # loujia de deng (the lights downstairs) off
    ]
    # From nowhere, in a home of three floors, "upstairs" is no floor.
    u = engine.understand_fast("turn off the lights upstairs", None)
    assert u is None or not {c.action for c in u.decision.commands} & ACTUATING
    # A word of a name is that name's first.
    assert _triples(engine.understand("stop the downstairs vacuum")) == [("stop", ("robot",), None)]


@pytest.mark.parametrize(
    ("text", "area", "expect"),
    [
        # "everything" with no place is the speaker's room; "all" or the home is all.
        ("turn everything off", "kitchen", ("turn_off", ("kitchen_light", "coffee_maker"), None)),
        # On and off as verbs (Singapore English), "of" for "off", a question tag.
        ("eh on the fan", None, ("turn_on", ("bedroom_fan",), None)),
        ("of the porch light", None, ("turn_off", ("porch_light",), None)),
        ("on the tv can or not", None, ("turn_on", ("tv",), None)),
        # An item with no list said: the home's one list.
        ("add bin bags", None, ("add_item", ("shopping_list",), "bin bags")),
    ],
)
def test_everything_here_on_and_off_as_verbs_and_a_lone_item(
    engine: IntentEngine, text: str, area: str | None, expect: Triple
) -> None:
    assert _triples(engine.understand(text, area)) == [expect]


def test_everything_from_nowhere_and_all_from_anywhere_is_the_home(engine: IntentEngine) -> None:
    for text, area in (("turn everything off", None), ("turn off all the devices", "kitchen")):
        (c,) = engine.understand(text, area).decision.commands
        assert c.action == "turn_off" and {"kitchen_light", "tv", "bedroom_fan"} <= set(c.devices)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # A value said before its device, with no verb; a recogniser's "too" for two.
        ("max volume on the kitchen speaker", ("set_volume", ("kitchen_speaker",), 100)),
        ("turn up the heating by too degrees", ("change_temperature", ("thermostat",), 2)),
        # A reminder with a length is a timer; "liang ge zhongtou" is two hours.
        ("remind me to take the pizza out in 12 minutes", ("start_timer", (), 720)),
        ("\u8ba1\u65f6\u4e24\u4e2a\u949f\u5934", ("start_timer", (), 7200)),
        # "kai hui lai": turned back on.
        ("\u628a\u7535\u89c6\u5f00\u56de\u6765", ("turn_on", ("tv",), None)),
        # A wish with an adverb is still a wish.
        ("i could really use a coffee", ("turn_on", ("coffee_maker",), None)),
    ],
)
def test_values_lengths_and_wishes(engine: IntentEngine, text: str, expect: Triple) -> None:
    assert _triples(engine.understand(text)) == [expect]


@pytest.mark.parametrize(
    "text",
    [
        # A reminder with no length is what dialogd cannot do; "how long" asks.
        "remind me to turn off the heater before bed",
        "the tv needs to be on how long before the game starts?",
        # A statement with no "too" asks for nothing.
        "the living room is freezing",
    ],
)
def test_what_is_no_command(engine: IntentEngine, text: str) -> None:
    assert not {c.action for c in engine.understand(text).decision.commands} & ACTUATING


def test_a_respelling_never_trades_a_question_back_for_other_devices() -> None:
    # "fan" is spelt like "flat" (the granny flat): the question about the fans stays.
    home = Path(__file__).parent / "data" / "probe" / "home-au.toml"
    engine = IntentEngine(home_registry(load_settings(home)))
    (c,) = engine.understand("turn on the fan", "rumpus").decision.commands
    assert c.action == "clarify" and "pedestal_fan" in c.devices and "radio" not in c.devices
