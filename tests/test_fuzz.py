"""Seeded fuzzing of every hostile-input surface (issue 15, "Keep it that way"): project files,
model-file metadata and tensors, layouts given to the inference API, and ``layout2im`` arguments.

Every case must end in a documented error (ProjectFileError, ModelFileError, LayoutError /
UnknownCategoryError, CLI exit 2 with one short line) or a correct result (checked: a loaded project
saves and reloads, a loaded model renders a finite image, a rendered layout is uint8 [64, 64, 3], a
command that exits 0 did its work) -- never another exception, a traceback, an internal error or a
hang (each case runs under an alarm).

Bounded: each area stops at its case count or its time budget, whichever comes first (about 20 s in
all). ``L2I_FUZZ_SCALE=10`` runs ten times the cases and budget; ``L2I_FUZZ_SEED`` changes the seed.
Each area prints ``fuzz <area>: N cases, N clean`` (pytest -s shows it).
"""

import contextlib
import copy
import io
import json
import os
import random
import signal
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch

SCALE = float(os.environ.get("L2I_FUZZ_SCALE", "1"))
SEED = int(os.environ.get("L2I_FUZZ_SEED", "15"))
CASE_ALARM_S = 20  # one case taking longer counts as a hang
MAX_MESSAGE = 1000
LAYOUTS = Path(__file__).resolve().parents[1] / "resources" / "layouts"

NAN, INF, BIG, DEEP = "@@NaN@@", "@@Infinity@@", "@@1e999@@", "@@deep@@"  # tokens json.dumps cannot write
HOSTILE = [None, True, False, 0, -1, 1, 7, 2 ** 31, 2 ** 63, 10 ** 30, -10 ** 30, 0.5, -0.0, 1e-320, 1e308,
           -1e308, 3.5e38, "", "x", "sea", "NaN", "0011", "\u0000", "é" * 3, "x" * 5000, [], [0], [0, 0, 1, 1],
           [[0]], ["a"], [0.5] * 8, {}, {"a": 1}, NAN, INF, BIG, DEEP]


class Hang(BaseException):
    """A case ran past CASE_ALARM_S."""


@contextlib.contextmanager
def alarm(seconds=CASE_ALARM_S):
    def fire(*_):
        raise Hang(f"no result within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def to_text(value) -> str:
    """JSON text of ``value`` with the hostile tokens spelled as Python's json would read them."""
    text = json.dumps(value)
    return (text.replace(f'"{NAN}"', "NaN").replace(f'"{INF}"', "-Infinity").replace(f'"{BIG}"', "1e999")
            .replace(f'"{DEEP}"', "[" * 3000 + "]" * 3000))


def nodes(value, path=()):
    """(path, value) of every node of a JSON value."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from nodes(v, path + (k,))


def hostile(rng: random.Random):
    """A fresh copy of a hostile value (never shared, so no change can make a cycle)."""
    return copy.deepcopy(rng.choice(HOSTILE))


def mutate(doc, rng: random.Random):
    """1 to 4 random changes: replace a node by a hostile value, delete it, or repeat a list's items."""
    for _ in range(rng.randint(1, 4)):
        paths = [p for p, _ in nodes(doc) if p]
        if not paths:
            return hostile(rng)
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        roll = rng.random()
        if roll < 0.7:
            parent[path[-1]] = hostile(rng)
        elif roll < 0.85:
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], list) and parent[path[-1]]:
            parent[path[-1]] = parent[path[-1]] * rng.choice([2, 50, 1100])
    return doc


class Tally:
    """Counts of cases and clean endings of one area; ``fail`` collects the unclean ones."""

    def __init__(self, area, cases, budget_s):
        self.area, self.cases, self.deadline = area, int(cases * SCALE), time.monotonic() + budget_s * SCALE
        self.run = self.clean = 0
        self.failures = []

    def more(self) -> bool:
        return self.run < self.cases and time.monotonic() < self.deadline

    def case(self, describe, fn):
        self.run += 1
        try:
            with alarm():
                fn()
            self.clean += 1
        except BaseException as e:  # noqa: BLE001 - anything not handled inside fn is a failure
            if isinstance(e, KeyboardInterrupt):
                raise
            self.failures.append(f"{describe()}: {type(e).__name__}: {str(e)[:300]}")

    def finish(self, detail: str = ""):
        print(f"fuzz {self.area}: {self.run} cases, {self.clean} clean{detail}")
        assert self.run >= min(self.cases, 50), "too few cases ran"
        assert not self.failures, "\n".join(self.failures[:10])


def short(e) -> None:
    assert len(str(e)) < MAX_MESSAGE and "weights_only" not in str(e) and "Traceback" not in str(e), str(e)[:300]


# --- project files ----------------------------------------------------------------------------------------------
def valid_project(rng, z_dim=8):
    objs = [{"category": rng.choice(["sea", "boat", "sky-other", "unicorn"]),
             "bbox": [0.1 * i, 0.1, 0.1 * i + 0.3, 0.6], "z": [rng.gauss(0, 1) for _ in range(z_dim)],
             "locked": bool(i % 2)} for i in range(rng.randint(0, 4))]
    looks = [{"base_z": o["z"], "seed": i} for i, o in enumerate(objs)]
    return {"format": "layout2im-project", "version": 1, "model": {"name": "m", "vocabulary_digest": "d"},
            "objects": objs, "meta": {"looks": looks, "note": "hi"}}


def test_fuzz_project_files(tmp_path):
    from app.document import Document, look_repairs
    from layout2im_core.project import ProjectFileError, dumps_project, load_project, save_project

    rng = random.Random(SEED)
    tally = Tally("project files", 1500, 5)
    path, out = tmp_path / "p.l2i.json", tmp_path / "out.l2i.json"
    while tally.more():
        text = to_text(mutate(valid_project(rng), rng))
        roll = rng.random()
        if roll < 0.1:
            text = text[:rng.randrange(len(text) + 1)]
        elif roll < 0.15:
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(["\udcff", "\x00", "}", "[", "NaN", "1e999"]) + text[i:]
        path.write_bytes(text.encode("utf-8", "surrogateescape"))

        def check():
            try:
                project = load_project(path)
            except ProjectFileError as e:
                short(e)
                return
            save_project(project, out)  # a project that opens can be saved ...
            again = load_project(out)
            assert again.objects == project.objects and again.warnings == ()
            doc = Document()  # ... and so can the app's document made from it
            doc.load_project(project)
            look_repairs(project)
            dumps_project(doc.to_project())

        tally.case(lambda: text[:200], check)
    tally.finish()


# --- model files --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_parts(tmp_path_factory):
    from safetensors.torch import load as st_load

    from layout2im_core.inference import Layout2ImModel

    path = tmp_path_factory.mktemp("fz") / "m.safetensors"
    model = Layout2ImModel.random("tiny", seed=0)
    model.save(path, card={"trained_max_objects": 6, "trained_categories": [154, 9]})
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    tensors = dict(st_load(data))
    k, d, z = 3, 4, model.z_dim
    tensors.update({"directions.ids": torch.tensor([154, 9, 157]), "directions.mean": torch.zeros(k, z),
                    "directions.components": torch.eye(z)[:d].expand(k, d, z).contiguous(),
                    "directions.std": torch.ones(k, d), "directions.explained": torch.full((k, d), 0.2)})
    return tensors, json.loads(data[8:8 + n])["__metadata__"]


def mutate_model(tensors, meta, rng):
    tensors, meta = dict(tensors), dict(meta)
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.55:
            key = rng.choice(["config", "config", "config", "vocabulary", "card", "card"])
            try:
                value = json.loads(meta[key])
            except (ValueError, RecursionError, KeyError):  # already made hostile
                value = hostile(rng)
            meta[key] = to_text(mutate(value, rng)) if rng.random() < 0.9 else to_text(hostile(rng))
        elif roll < 0.6:
            key = rng.choice(["name", "format", "format_version", "config", "vocabulary", "card"])
            if rng.random() < 0.5:
                meta.pop(key, None)
            else:
                meta[key] = str(hostile(rng))[:6000]
        else:
            name = rng.choice(sorted(tensors))
            t = tensors[name].clone()
            op = rng.randrange(6)
            if op == 0:
                del tensors[name]
                continue
            if op == 1 and t.is_floating_point() and t.numel():
                t.view(-1)[rng.randrange(t.numel())] = rng.choice([float("nan"), float("inf"), 0.0, -1.0, 3e38])
            elif op == 2 and t.dim() and t.shape[0] > 1:
                t = t[:t.shape[0] - 1].contiguous()
            elif op == 3:
                t = t.to(rng.choice([torch.int32, torch.float16, torch.bfloat16, torch.float64, torch.int64]))
            elif op == 4:
                name = rng.choice(["G.extra", "directions.named_x", "directions.ids", "x"])
                t = torch.zeros(rng.choice([(0,), (2,), (3, 8)]))
            elif op == 5 and t.dim():
                t = t.unsqueeze(0).contiguous()
            tensors[name] = t
    return tensors, meta


def test_fuzz_model_files(tmp_path, model_parts):
    from safetensors.torch import save as st_save

    from layout2im_core.checkpoint import load_model_file
    from layout2im_core.errors import LayoutError, ModelFileError
    from layout2im_core.inference import Layout2ImModel
    from layout2im_core.types import LayoutSpec, ObjectSpec

    rng = random.Random(SEED + 1)
    tally = Tally("model files", 350, 7)
    path = tmp_path / "m.safetensors"
    layout = LayoutSpec.of(ObjectSpec("sea", (0, 0.5, 1, 1)), ObjectSpec("boat", (0.2, 0.3, 0.5, 0.6)))
    while tally.more():
        tensors, meta = mutate_model(*model_parts, rng)
        data = st_save(tensors, metadata=meta)
        if rng.random() < 0.08:
            data = data[:rng.randrange(len(data))]
        elif rng.random() < 0.05:
            i = rng.randrange(min(len(data), 400))
            data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
        path.write_bytes(data)

        def check():
            try:  # both steps of Layout2ImModel.load: reading the file, building and probing the model
                m = Layout2ImModel(load_model_file(path), device="cpu", precision="fp32")
            except ModelFileError as e:
                short(e)
                return
            try:  # finite weights can still overflow for some categories: a LayoutError, never a black image
                img = m.generate(layout, seed=0)
                assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
            except LayoutError as e:
                short(e)
            assert m.trained_max_objects >= 1 and m.trained_categories
            for c in ("sea", "boat", "sky-other"):
                d = m.directions(c)
                assert np.all(np.isfinite(d.components)) and np.all(d.std > 0)
            m.layout_warnings(layout)

        def describe():
            return f"meta={json.dumps(meta)[:160]} tensors={len(tensors)}"

        tally.case(describe, check)
    tally.finish()


# --- layouts --------------------------------------------------------------------------------------------------------
CATEGORIES = ["sea", "boat", "sky-other", "unicorn", "", "x" * 100_000, 5, None, b"sea", ["sea"], 1.5]


def hostile_bbox(rng):
    x0, y0 = rng.random() * 0.8, rng.random() * 0.8
    return rng.choice([(x0, y0, x0 + 0.2, y0 + 0.2), [x0, y0, x0 + 0.1, y0 + 0.3], np.array([0.1, 0.1, 0.9, 0.9]),
                       (0.5, 0.5, 0.2, 0.9), (0.3, 0.3, 0.3, 0.6), (float("nan"), 0, 1, 1), (0, 0, float("inf"), 1),
                       "0011", b"0011", (0, 0, 1), (0, 0, 1, 1, 1), [[0], 0, 1, 1], None, (True, 0, 1, 1),
                       (-5, -5, 5, 5), (1e308, 0, 1, 1), (0, 0, "1", 1), {"x0": 0}, 7])


def hostile_z(rng, z_dim=8):
    good = [rng.gauss(0, 1) for _ in range(z_dim)]
    return rng.choice([None, None, good, tuple(good), np.array(good), np.array(good, np.float64).reshape(1, -1),
                       good[:-1], good + [0.0], "0.1 " * z_dim, {"z": good}, [good[:3], good[3:]], [NAN] * z_dim,
                       [float("nan")] + good[1:], [3e38] + good[1:], [1e39] + good[1:], [1001.0] + good[1:],
                       [True] * z_dim, ["1"] * z_dim, [None] * z_dim, 5, b"\x00" * z_dim])


def test_fuzz_layouts():
    from layout2im_core.errors import LayoutError, UnknownCategoryError
    from layout2im_core.inference import Layout2ImModel
    from layout2im_core.types import LayoutSpec, ObjectSpec

    model = Layout2ImModel.random("tiny", seed=2)
    rng = random.Random(SEED + 2)
    tally = Tally("layouts", 1500, 4)
    seeds = [None, 0, 7, -1, 1.5, "3", True, 2 ** 63, 2 ** 70, np.int64(4), float("nan")]
    while tally.more():
        objs = [ObjectSpec(rng.choice(CATEGORIES), hostile_bbox(rng), hostile_z(rng))
                for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8, 9, 20]))]
        if objs and rng.random() < 0.05:
            objs[0] = ("sea", (0, 0, 1, 1))
        layout = LayoutSpec(tuple(objs) if rng.random() < 0.9 else list(objs))
        seed = rng.choice(seeds)
        call = rng.random()

        def check():
            model.layout_warnings(layout)  # never raises
            try:
                if call < 0.85:
                    img = model.generate(layout, seed=seed)
                    assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
                elif call < 0.95:
                    imgs = model.generate_batch([layout, layout], seed=seed)
                    assert imgs.shape == (2, 64, 64, 3)
                else:
                    photo = rng.choice([np.zeros((20, 30, 3), np.uint8), np.full((4, 4), 300.0),
                                        np.full((5, 5, 3), np.nan), np.zeros((0, 5, 3)), "photo"])
                    z = model.encode_appearance(photo, hostile_bbox(rng), rng.choice(CATEGORIES))
                    assert z.shape == (model.z_dim,) and np.all(np.isfinite(z))
            except (LayoutError, UnknownCategoryError) as e:
                short(e)

        tally.case(lambda: f"{len(objs)} objects, seed {seed!r}, first {str(objs[:1])[:160]}", check)
    tally.finish()


# --- command-line arguments -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, make_cli_world, official_checkpoint):
    """A private CLI world (conftest's ``make_cli_world``: the fuzz may write into it) plus hostile paths:
    a FIFO, garbage, deeply nested JSON, an empty folder."""
    env = make_cli_world(tmp_path_factory.mktemp("fuzzcli"))
    root = env["root"]
    os.mkfifo(root / "fifo")
    (root / "garbage.json").write_bytes(b"\xff\x00{[")
    (root / "nested.json").write_text("[" * 5000 + "]" * 5000)
    (root / "empty").mkdir()
    env["official"], _ = official_checkpoint(root)
    return env


def path_pool(env, tmp):
    """Input paths: good ones and hostile ones (read only: no command is ever given them to write)."""
    r = env["root"]
    return [str(p) for p in (env["model"], r / "fifo", r / "garbage.json", r / "nested.json", r / "empty",
                             "/dev/zero", r / "missing", tmp / "new", LAYOUTS / "beach.json", "")]


def out_pool(env, tmp):
    """Output paths: inside the case's folder, or hostile ones that must be refused before any write."""
    r = env["root"]
    (tmp / "existing.json").write_text("{}")
    return [str(p) for p in (tmp / "o", tmp / "o.safetensors", tmp / "o.json", tmp / "sub" / "o.pt",
                             tmp / "existing.json", r / "empty", r / "fifo", "/dev/zero", "/dev/null", "")]


INTS = ["0", "1", "2", "-1", "-3", "1.5", "1e3", "x", "", "99999999999999999999", "nan", "inf"]


def cli_argv(rng, env, tmp):
    paths, outs = path_pool(env, tmp), out_pool(env, tmp)
    pick = rng.choice
    grammar = {
        "info": [("--preset", ["tiny", "bogus", "lite"]), ("--num-classes", ["2", "184", "0", "-1", "x", "10001"])],
        "import-official": [("", [str(env["official"])] + paths), ("--vocab", ["coco", "vg", "x"] + paths),
                            ("--out", outs), ("--name", ["n", "", "x" * 300])],
        "generate": [("--model", [str(env["model"]), "scenes64x"] + paths),
                     ("--layout", [str(LAYOUTS / "beach.json")] + paths),
                     ("--samples", ["1", "2", "0", "-1", "x", "1001"]), ("--seed", INTS),
                     ("--scale", ["1", "2", "0", "-3", "65", "x"]), ("--out", [str(tmp / "png")] + outs),
                     ("--device", ["cpu", "auto", "bogus", "cuda:x", "cuda"])],
        "make-scenes": [("--n", ["1", "2", "0", "-1", "x", "10000000"]), ("--out", [str(tmp / "s")] + outs),
                        ("--seed", INTS), ("--size", ["16", "32", "0", "15", "30000", "x"])],
        "train": [("--preset", ["tiny-test", "bogus"]), ("--data", [str(env["scenes"])] + paths),
                  ("--run-dir", [str(tmp / "run")] + outs), ("--iterations", ["1", "0", "-1", "x"]),
                  ("--batch-size", ["1", "2", "0", "x", "5000"]), ("--device", ["cpu", "bogus"]),
                  ("--set", ["lr=inf", "loss_weights.kl=-5", "loss_weights.kl=nan", "keep_last=0", "x", "lr=1e-4",
                             "num_workers=0", "ema_decay=1", "betas=(2,0)", "nope=1"]),
                  ("--resume", paths), ("--dry-run", None), ("--no-progress", None)],
        "directions": [("", [str(env["run"])] + paths), ("--top-k", ["1", "0", "-1", "x", "5000"]),
                       ("--max-images", ["0", "-1", "x", "2"]), ("--out", [str(tmp / "d.pt")] + outs)],
        "export": [("", [str(env["run"])] + paths), ("--out", outs), ("--dtype", ["fp32", "bf16", "fp8"]),
                   ("--name", ["n", "", "x" * 300])],
        "eval": [("--model", [str(env["model"])] + paths), ("--data", paths[1:8]), ("--kind", ["coco", "bogus"]),
                 ("--n", INTS), ("--out", outs)],
        "check-scenes": [("--model", [str(env["model"])] + paths), ("--n", ["1", "0", "-5", "x"]),
                         ("--samples", ["1", "0", "x"])],
    }
    cmd = pick(sorted(grammar))
    argv = [cmd]
    for flag, values in grammar[cmd]:
        required = flag in ("", "--out", "--layout", "--model", "--data", "--n") and rng.random() < 0.9
        required = required or (cmd == "check-scenes" and flag == "--n")  # a valid check-scenes takes minutes
        if not required and rng.random() < 0.5:
            continue
        if values is None:
            argv.append(flag)
        else:
            argv += ([flag] if flag else []) + [pick(values)]
    if cmd == "train" and "--iterations" not in argv:
        argv += ["--iterations", "1"]  # a valid train is the tiny-test preset for one step, never more
    return argv


def test_fuzz_cli_arguments(tmp_path, cli_env):
    from layout2im_core.cli import main

    rng = random.Random(SEED + 3)
    tally = Tally("CLI arguments", 250, 9)
    exits = {}
    devices = {p: os.stat(p).st_rdev for p in ("/dev/zero", "/dev/null")}
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        while tally.more():
            case_dir = tmp_path / f"c{tally.run}"
            case_dir.mkdir()
            argv = cli_argv(rng, cli_env, case_dir)

            def check():
                err, out = io.StringIO(), io.StringIO()
                cwd = os.getcwd()
                os.chdir(case_dir)  # anything relative lands in the case's folder
                try:
                    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                        try:
                            rc = main(argv)
                        except SystemExit as e:
                            rc = e.code
                finally:
                    os.chdir(cwd)
                text = err.getvalue()
                errors = [ln for ln in text.splitlines() if "error:" in ln]
                assert rc in (0, 2), f"exit {rc}: {text[-300:]}"
                exits[rc] = exits.get(rc, 0) + 1
                assert "Traceback" not in text and "weights_only" not in text, text[-300:]
                assert (rc == 0) == (not errors) and len(errors) <= 1, text[-300:]
                assert all(len(ln) < MAX_MESSAGE for ln in errors)
                if rc == 0 and argv[0] == "generate":
                    assert len(list((case_dir / "png").glob("*.png"))) >= 1

            tally.case(lambda: " ".join(a[:60] for a in argv), check)
    finally:
        torch.set_num_threads(n_threads)
    assert {p: os.stat(p).st_rdev for p in devices} == devices  # never replaced by a file
    assert not (Path(__file__).resolve().parents[1] / "annotations.json").exists()
    tally.finish(f" (exit 0: {exits.get(0, 0)}, exit 2: {exits.get(2, 0)})")
