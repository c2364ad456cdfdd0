"""Random homes for property tests: a seeded function and a hypothesis strategy.

`random_home(seed)` and `homes()` build the same kind of home, from the same code: 5-150
devices of every FORMAT.md type, on 1-4 floors and 1-18 areas (some devices in none),
either temperature unit. Names are pet names that are also ordinary English words
("moon", "radio", "bolt", "breeze", "pantry", as in tests/data/wide/home-cabin.toml),
descriptive names ("desk lamp", "kitchen blinds"), sometimes a Chinese name with an
English alias (as in home-apartment.toml), often a Chinese alias. Lights with and without
colour or dimming, fans with 2-6 speeds, locks whose unlock (sometimes lock too) needs a
confirmation, garage-like covers whose opening does.

Every device id and every phrase (name or alias, case-insensitive) is unique, and no
device phrase is an area's or a floor's. The first five devices are a light, a switch, a
fan, a cover and a lock, in some order, so that every home has one of each.

The hypothesis strategy draws every choice through hypothesis, so a failing home shrinks
(towards few devices, few areas, the first word of each list, no options).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

from daemon.config.home import Area, Device, Floor, registry_problems
from daemon.home.registry import DeviceInfo, Registry

T = TypeVar("T")

# ------------------------------------------------------------------ word lists

# (id, name, aliases): the floors a home may have, in order.
FLOORS = (
    ("ground", "ground floor", ("downstairs", "一楼", "楼下")),
    ("upstairs", "upstairs", ("first floor", "二楼", "楼上")),
    ("basement", "basement", ("地下室",)),
    ("attic", "attic", ("top floor", "三楼")),
)

AREAS = (
    ("living_room", "living room", ("lounge", "客厅")),
    ("kitchen", "kitchen", ("厨房",)),
    ("dining_room", "dining room", ("餐厅",)),
    ("hallway", "hallway", ("hall", "走廊")),
    ("bedroom", "bedroom", ("卧室",)),
    ("master_bedroom", "master bedroom", ("主卧",)),
    ("kids_room", "kids room", ("儿童房",)),
    ("study", "study", ("office", "书房")),
    ("bathroom", "bathroom", ("浴室", "卫生间")),
    ("garage", "garage", ("车库",)),
    ("garden", "garden", ("yard", "花园")),
    ("loft", "loft", ("sleeping loft", "阁楼")),
    ("nook", "nook", ("reading nook", "读书角")),
    ("deck", "deck", ("porch", "露台")),
    ("laundry", "laundry room", ("洗衣房",)),
    ("gym", "gym", ("健身房",)),
    ("cellar", "cellar", ("wine cellar", "酒窖")),
    ("balcony", "balcony", ("阳台",)),
)

# Pet names that are also ordinary words; none is a word the engine treats specially
# (a verb, a colour, a number, "all", "it", a device kind, a place).
PET_NAMES = (
    "moon", "radio", "bolt", "breeze", "pantry", "kettle", "ember", "cozy", "dusty",
    "sunny", "buddy", "echo", "spark", "pebble", "willow", "maple", "comet", "star",
    "cloud", "nova", "pixel", "biscuit", "ginger", "shadow", "river", "storm", "frost",
    "honey", "olive", "juniper", "jasper", "orbit", "beacon", "glow", "whisper", "atlas",
    "rocket", "bubbles", "twinkle", "mellow", "sprout", "marble", "button", "cookie",
    "pepper", "sage", "flint", "coral", "ivy", "basil", "rusty", "lucky", "pilot", "scout",
)  # fmt: skip

QUALIFIERS = (
    "desk", "corner", "bedside", "reading", "ceiling", "patio", "window", "wall", "side",
    "back", "front", "north", "south", "tall", "little", "big", "old", "main", "guest",
    "vanity", "mirror", "pool", "cabinet", "stair", "entry",
)  # fmt: skip

# Per type: the kinds of device (English), Chinese names, and how likely the type is.
KINDS: dict[str, tuple[str, ...]] = {
    "light": ("lamp", "light", "sconce", "lantern", "strip", "chandelier", "spotlight"),
    "switch": ("plug", "socket", "outlet", "kettle plug", "heater switch"),
    "fan": ("fan", "ceiling fan", "tower fan"),
    "cover": ("blinds", "curtains", "shades", "shutters", "garage door", "awning"),
    "valve": ("valve", "sprinkler", "water valve"),
    "lock": ("lock", "door lock", "deadbolt", "latch"),
    "climate": ("thermostat", "air conditioner", "stove", "radiator"),
    "media_player": ("speaker", "tv", "soundbar", "stereo"),
    "vacuum": ("vacuum", "robot vacuum", "mop robot"),
    "appliance": ("dishwasher", "washer", "dryer", "coffee maker", "water heater"),
    "scene": ("mode", "scene"),
    "list": ("list", "shopping list", "to-do list"),
}
ZH_NAMES: dict[str, tuple[str, ...]] = {
    "light": (
        "台灯", "吊灯", "落地灯", "床头灯", "灯带", "壁灯", "筒灯", "射灯", "夜灯", "灯笼",
        "月亮灯", "小火苗", "星星灯", "镜前灯", "氛围灯", "阅读灯",
    ),
    "switch": ("插座", "电水壶", "取暖器", "电热毯", "饮水机", "鱼缸", "排插"),
    "fan": ("风扇", "吊扇", "落地扇", "台扇", "微风", "排气扇"),
    "cover": ("窗帘", "百叶窗", "卷帘", "车库门", "天窗", "遮阳篷", "晾衣架", "纱帘"),
    "valve": ("水阀", "喷头", "浇水阀"),
    "lock": ("门锁", "门闩", "大门锁", "后门锁", "智能锁"),
    "climate": ("空调", "暖炉", "地暖", "温控器"),
    "media_player": ("音箱", "电视", "收音机", "投影仪"),
    "vacuum": ("扫地机", "扫地机器人", "拖地机"),
    "appliance": ("洗碗机", "洗衣机", "烘干机", "热水器", "净化器", "加湿器"),
    "scene": ("温馨模式", "影院模式", "睡眠模式", "起床模式"),
    "list": ("购物清单", "待办清单", "补给清单"),
}  # fmt: skip
# After the first five devices, a type is drawn from this bag.
TYPE_BAG = (
    *["light"] * 5, *["switch"] * 3, *["fan"] * 2, *["cover"] * 2, "lock", "valve",
    "climate", "media_player", "vacuum", "appliance", "scene", "list",
)  # fmt: skip
FIRST_TYPES = ("light", "switch", "fan", "cover", "lock")


# ------------------------------------------------------------------ choices


class Chooser(Protocol):
    """Where the random choices come from: random.Random, or hypothesis' draw."""

    def integer(self, lo: int, hi: int) -> int: ...


class SeededChooser:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class DrawChooser:
    def __init__(self, draw: Callable[[st.SearchStrategy[int]], int]) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


def _chance(c: Chooser, p: float) -> bool:
    """True with probability p; shrinks towards False."""
    return c.integer(0, 99) >= 100 - round(p * 100)


def _pick(c: Chooser, items: Sequence[T]) -> T:
    return items[c.integer(0, len(items) - 1)]


def _key(phrase: str) -> str:
    return " ".join(phrase.lower().split())


# ------------------------------------------------------------------ the home


class _Builder:
    def __init__(self, c: Chooser) -> None:
        self.c = c
        self.floors: list[Floor] = []
        self.areas: list[Area] = []
        self.devices: list[Device] = []
        self.used: set[str] = set()  # every phrase taken, _key()ed
        self.ids: set[str] = set()

    def places(self) -> None:
        n_floors = self.c.integer(1, len(FLOORS))
        for fid, name, aliases in FLOORS[:n_floors]:
            self.floors.append(Floor(id=fid, name=name, aliases=list(aliases)))
        pool = list(AREAS)
        for _ in range(self.c.integer(1, len(AREAS))):
            aid, name, aliases = pool.pop(self.c.integer(0, len(pool) - 1))
            floor = None if _chance(self.c, 0.15) else _pick(self.c, self.floors).id
            self.areas.append(Area(id=aid, name=name, aliases=list(aliases), floor=floor))
        for place in (*self.floors, *self.areas):
            self.used.update(_key(p) for p in (place.name, *place.aliases))

    def device(self, typ: str) -> None:
        area = None if _chance(self.c, 0.1) else _pick(self.c, self.areas)
        en = self._english(typ, area)
        phrases = [en]
        zh = self._free(ZH_NAMES[typ]) if _chance(self.c, 0.6) else []
        if zh:
            phrases.append(self._take(zh))
            if _chance(self.c, 0.25):  # a Chinese name with an English alias
                phrases.reverse()
        if _chance(self.c, 0.3):
            extra = self._free(self._descriptive(typ, area))
            if extra:
                phrases.append(self._take(extra))
        self.devices.append(
            Device(
                id=self._id(en),
                type=typ,
                name=phrases[0],
                aliases=phrases[1:],
                area=area.id if area else None,
                **self._options(typ),
            )
        )

    def _english(self, typ: str, area: Area | None) -> str:
        pets = self._free(PET_NAMES)
        if pets and _chance(self.c, 0.4):
            return self._take(pets)
        names = self._free(self._descriptive(typ, area))
        if not names:  # every descriptive name of this type is taken
            names = self._free([f"{p} {k}" for p in PET_NAMES for k in KINDS[typ]])
        return self._take(names)

    def _descriptive(self, typ: str, area: Area | None) -> list[str]:
        kinds = KINDS[typ]
        if typ == "scene":
            return [f"{p} {k}" for p in PET_NAMES for k in kinds]
        own = [f"{area.name} {k}" for k in kinds] if area else []
        return own + [f"{q} {k}" for q in QUALIFIERS for k in kinds]

    def _free(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if _key(n) not in self.used]

    def _take(self, names: list[str]) -> str:
        name = _pick(self.c, names)
        self.used.add(_key(name))
        return name

    def _id(self, english: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "_", english.lower()).strip("_")
        did, n = base, 2
        while did in self.ids:
            did, n = f"{base}_{n}", n + 1
        self.ids.add(did)
        return did

    def _options(self, typ: str) -> dict[str, object]:
        c = self.c
        if typ == "light":
            if _chance(c, 0.2):
                return {"actions": ["turn_on", "turn_off"]}
            return {"color": _chance(c, 0.5)}
        if typ == "fan":
            return {"speeds": c.integer(2, 6)}
        if typ == "lock":
            return {"sensitive": ["lock", "unlock"] if _chance(c, 0.2) else ["unlock"]}
        if typ == "cover" and _chance(c, 0.3):
            return {"sensitive": ["open"]}
        if typ == "switch" and _chance(c, 0.1):
            return {"sensitive": ["turn_on"]}
        return {}

    def registry(self, fahrenheit: bool) -> Registry:
        problems = registry_problems(self.devices, self.areas, self.floors)
        assert not problems, problems
        unit = "fahrenheit" if fahrenheit else "celsius"
        return Registry.from_config(self.devices, self.areas, self.floors, unit)


def build_home(c: Chooser, min_devices: int = 5, max_devices: int = 150) -> Registry:
    """A random home from the choices of `c` (see the module's docstring)."""
    assert 5 <= min_devices <= max_devices
    b = _Builder(c)
    b.places()
    n = c.integer(min_devices, max_devices)
    order = list(FIRST_TYPES)
    for i in range(n):
        b.device(order.pop(c.integer(0, len(order) - 1)) if order else _pick(c, TYPE_BAG))
        assert len(b.devices) == i + 1
    return b.registry(fahrenheit=_chance(c, 0.3))


def random_home(seed: int, min_devices: int = 5, max_devices: int = 150) -> Registry:
    """The same home for the same seed."""
    return build_home(SeededChooser(seed), min_devices, max_devices)


def homes(min_devices: int = 5, max_devices: int = 150) -> st.SearchStrategy[Registry]:
    """Random homes, every choice drawn (and shrunk) by hypothesis."""

    @st.composite
    def strategy(draw: st.DrawFn) -> Registry:
        return build_home(DrawChooser(draw), min_devices, max_devices)

    return strategy()


# ------------------------------------------------------------------ helpers for tests

_CJK = re.compile(r"[\u3400-\u9fff]")


def zh_phrase(dev: DeviceInfo) -> str | None:
    """The device's Chinese name or alias, if it has one."""
    return next((p for p in dev.phrases if _CJK.search(p)), None)


def en_phrase(dev: DeviceInfo) -> str:
    """The device's English name (its name, or its first English alias)."""
    return next(p for p in dev.phrases if not _CJK.search(p))


def describe(registry: Registry) -> str:
    """A short listing of a home, for hypothesis' note() on a failure."""
    unit = "F" if registry.fahrenheit else "C"
    places = ", ".join(f"{a.id}@{a.floor}" for a in registry.areas)
    devices = "; ".join(f"{d.id}:{d.type}:{'|'.join(d.phrases)}@{d.area}" for d in registry.devices)
    return f"{len(registry.devices)} devices, °{unit}, areas {places}\n{devices}"
