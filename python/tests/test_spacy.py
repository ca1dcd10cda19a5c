"""The spaCy component (maskner.spacy_component): the factory and its entry point, pipe() against
__call__ and against Engine.tag, mode="ents", style="span", the filters, overwrite_ents,
alignment failures, engine errors, displaCy."""

import json
import pickle
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

spacy = pytest.importorskip("spacy")
from spacy import displacy  # noqa: E402
from spacy.tokens import Doc, Span  # noqa: E402

import maskner  # noqa: E402
from conftest import MODELS  # noqa: E402
from maskner.spacy_component import AlignmentWarning, MasknerComponent, make_maskner  # noqa: E402

SENTENCES = [
    "Aspirin helps patients with headache and fever in London hospitals.",
    "The BRCA1 gene is linked to breast cancer in women from Paris.",
    "Mutations in β-catenin and α-synuclein were found in naïve T cells of patients with Parkinson disease.",
    "Imatinib mesylate is used to treat CML.",
    "In 1984, 42 % of the cases had EGFR mutations treated with gefitinib.",
    "",
]
DRUGS = ["Aspirin", "Imatinib", "Gefitinib", "Metformin", "Insulin"]
DISEASES = ["headache", "breast cancer", "diabetes", "fever", "Parkinson disease"]
PLACES = ["London", "Paris", "Boston", "Kyoto"]
# 200 texts; the template varies so that batches mix long, short and empty texts
MANY = [
    SENTENCES[i % len(SENTENCES)]
    if i % 7 == 0
    else f"{DRUGS[i % 5]} was given to {i} patients with {DISEASES[(i // 5) % 5]} in {PLACES[i % 4]}."
    for i in range(200)
]


def entity_tuples(doc_or_spans):
    spans = doc_or_spans.ents if isinstance(doc_or_spans, Doc) else doc_or_spans
    return [(s.start_char, s.end_char, s.text, s.label_, s._.maskner) for s in spans]


_NLPS = {}


@pytest.fixture(scope="module")
def make_nlp():
    """spacy.blank("en") with the component (and optionally an entity_ruler before it),
    made once per configuration for the module."""

    def make(patterns=None, **config):
        key = json.dumps([patterns, config], sort_keys=True)
        if key not in _NLPS:
            nlp = spacy.blank("en")
            if patterns is not None:
                nlp.add_pipe("entity_ruler").add_patterns(patterns)
            nlp.add_pipe("maskner", config={"models": MODELS, **config})
            _NLPS[key] = nlp
        return _NLPS[key]

    yield make
    _NLPS.clear()


@pytest.fixture(scope="module")
def nlp(make_nlp):
    return make_nlp()


@pytest.fixture(scope="module")
def plain_engine():
    return maskner.Engine(models=MODELS, progress=False)


class CountingEngine:
    """Delegates to a real engine and records each tag() call's inputs."""

    def __init__(self, engine):
        self.engine = engine
        self.calls = []

    def tag(self, texts, **kwargs):
        self.calls.append((list(texts), kwargs))
        return self.engine.tag(texts, **kwargs)

    def info(self):
        return self.engine.info()


# -- the factory ----------------------------------------------------------------------------


def test_the_factory_makes_the_component_with_the_documented_defaults(nlp):
    component = nlp.get_pipe("maskner")
    assert isinstance(component, MasknerComponent)
    assert isinstance(component.engine, maskner.Engine)
    config = dict(nlp.config["components"]["maskner"])
    assert config == {
        "factory": "maskner",
        "models": MODELS,
        "maps": None,
        "labels": None,
        "members": None,
        "config": None,
        "compat": False,
        "threads": None,
        "aggregation": None,
        "stride": None,
        "precision": None,
        "progress": False,
        "mode": "auto",
        "batch_size": 32,
        "style": "ent",
        "spans_key": "maskner",
        "overwrite_ents": False,
        "threshold": None,
        "keep": None,
        "explain": False,
    }
    assert component.engine.members == ["bio", "phi"]


def test_the_entry_point_names_the_factory():
    found = [ep for ep in entry_points(group="spacy_factories") if ep.name == "maskner"]
    assert len(found) == 1
    assert found[0].value == "maskner.spacy_component:make_maskner"
    assert found[0].load() is make_maskner


def test_a_fresh_interpreter_finds_the_factory_without_import_maskner(nlp):
    script = textwrap.dedent(
        f"""
        import json, sys
        import spacy
        assert "maskner" not in sys.modules
        nlp = spacy.blank("en")  # loads the spacy_factories entry points
        assert "maskner.spacy_component" in sys.modules
        nlp.add_pipe("maskner", config={{"models": {MODELS!r}}})
        doc = nlp({SENTENCES[0]!r})
        print(json.dumps([[e.start_char, e.end_char, e.label_, e._.maskner] for e in doc.ents]))
        """
    )
    assert "import maskner" not in script and "from maskner" not in script
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    doc = nlp(SENTENCES[0])
    expected = [[e.start_char, e.end_char, e.label_, e._.maskner] for e in doc.ents]
    assert len(expected) >= 3
    assert got == expected


@pytest.mark.parametrize(
    "config, message",
    [
        ({"mode": "detect"}, r"^mode: 'detect': expected \"auto\" or \"ents\"$"),
        ({"style": "spans"}, r"^style: 'spans': expected \"ent\" or \"span\"$"),
        ({"batch_size": 0}, r"^batch_size: 0: expected a whole number of docs, at least 1$"),
        ({"threshold": 1.5}, r"^threshold: 1.5: expected None or a number from 0 to 1$"),
        ({"keep": []}, r"^keep: \[\]: expected None or a non-empty list of group or subtype names$"),
        ({"keep": ["DISEASE", "NOT_A_TYPE"]}, r"^keep: unknown name\(s\) NOT_A_TYPE: expected groups \(.*DISEASE.*\)"),
        ({"spans_key": ""}, r"^spans_key: '': expected a non-empty string$"),
        ({"threads": 0}, r"^threads: "),
    ],
)
def test_bad_settings_are_one_line_value_errors_naming_the_key(config, message):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=message) as err:
        nlp.add_pipe("maskner", config={"models": MODELS, **config})
    assert "\n" not in str(err.value)
    assert "maskner" not in nlp.pipe_names


# -- pipe() and __call__ --------------------------------------------------------------------


def test_pipe_over_200_docs_equals_call_doc_by_doc_with_one_engine_call_per_batch(nlp, monkeypatch):
    component = nlp.get_pipe("maskner")
    counting = CountingEngine(component.engine)
    monkeypatch.setattr(component, "engine", counting)
    piped = list(nlp.pipe(MANY))  # nlp.pipe passes batch_size=1000; the setting (32) caps it
    assert [len(texts) for texts, _ in counting.calls] == [32] * 6 + [8]
    assert [t for texts, _ in counting.calls for t in texts] == MANY
    assert all(kwargs["mode"] == "auto" for _, kwargs in counting.calls)

    counting.calls.clear()
    one_by_one = [nlp(text) for text in MANY]
    assert len(counting.calls) == 200

    assert [d.text for d in piped] == MANY
    with_entities = 0
    for a, b in zip(piped, one_by_one):
        assert entity_tuples(a) == entity_tuples(b)
        assert a.user_data["maskner"] == b.user_data["maskner"] == {"unaligned": 0}
        with_entities += bool(a.ents)
    assert with_entities >= 180
    # every entity carries the extension, with the documented keys
    ent = piped[1].ents[0]
    assert set(ent._.maskner) == {"group", "subtype", "score", "member", "second", "label"}
    assert ent._.maskner["group"] == ent.label_


def test_component_pipe_with_an_explicit_batch_size(nlp, monkeypatch):
    component = nlp.get_pipe("maskner")
    counting = CountingEngine(component.engine)
    monkeypatch.setattr(component, "engine", counting)
    docs = list(component.pipe((nlp.make_doc(t) for t in MANY[:20]), batch_size=6))
    assert [len(texts) for texts, _ in counting.calls] == [6, 6, 6, 2]
    assert [entity_tuples(d) for d in docs] == [entity_tuples(nlp(t)) for t in MANY[:20]]


def test_precision_reaches_the_engine(make_nlp):
    nlp = make_nlp(precision="bf16")
    engine = nlp.get_pipe("maskner").engine
    assert [m["precision"] for m in engine.info()["members"]] == ["bf16", "bf16"]
    text = "Aspirin helps patients with headache and fever."
    expected = maskner.Engine(models=MODELS, precision="bf16", progress=False).tag(text, mode="auto")["entities"]
    assert [(s.start_char, s.end_char, s._.maskner["subtype"], s._.maskner["score"]) for s in nlp(text).ents] == [
        (e["start"], e["end"], e["subtype"], e["score"]) for e in expected
    ]


def test_entities_equal_engine_tag_in_auto_mode(nlp, plain_engine):
    # the marker text shows the component uses mode="auto", not "detect"
    marked = "Imatinib:__entity__ mesylate:__entity__ is used to treat CML:__entity__ ."
    texts = SENTENCES + [marked]
    records = plain_engine.tag(texts, mode="auto")
    assert sum(len(r["entities"]) for r in records) >= 15
    for doc, record in zip(nlp.pipe(texts), records):
        got = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        assert got == [(x["start"], x["end"], x["group"]) for x in record["entities"]]
        assert [e._.maskner["score"] for e in doc.ents] == [x["score"] for x in record["entities"]]
        assert [e._.maskner["second"] for e in doc.ents] == [x.get("second") for x in record["entities"]]
    detect = plain_engine.tag(marked)["entities"]
    assert [(x["start"], x["end"]) for x in detect] != [(e.start_char, e.end_char) for e in nlp(marked).ents]


def test_explain_adds_the_members_descriptors(make_nlp, plain_engine):
    doc = make_nlp(explain=True)(SENTENCES[1])
    record = plain_engine.tag(SENTENCES[1], mode="auto", explain=True)
    assert len(doc.ents) == len(record["entities"]) >= 3
    for ent, x in zip(doc.ents, record["entities"]):
        assert ent._.maskner["explanation"] == x["explanation"]
        assert set(ent._.maskner["explanation"]) <= {"bio", "phi"}
        assert ent._.maskner["explanation"]
    assert "explanation" not in make_nlp()(SENTENCES[1]).ents[0]._.maskner


# -- mode="ents" ----------------------------------------------------------------------------

ENTS_TEXT = "Aspirin cut headache by 42 % in London ."
RULER = [
    {"label": "CHEM", "pattern": "Aspirin"},
    {"label": "SYMPTOM", "pattern": "headache"},
    {"label": "UNIT", "pattern": "%"},
]
ENTS_SPANS = [[0, 7], [12, 20], [27, 28]]


def test_mode_ents_types_the_existing_entities_and_keeps_untyped_ones(make_nlp, plain_engine):
    record = plain_engine.tag({"text": ENTS_TEXT, "spans": ENTS_SPANS})
    typed = {(x["start"], x["end"]): x for x in record["entities"]}
    # what the engine itself says: Aspirin and headache typed, "%" left untyped
    assert set(typed) == {(0, 7), (12, 20)}

    doc = make_nlp(patterns=RULER, mode="ents")(ENTS_TEXT)
    assert [(e.text, e.label_) for e in doc.ents] == [
        ("Aspirin", typed[(0, 7)]["group"]),
        ("headache", typed[(12, 20)]["group"]),
        ("%", "UNIT"),
    ]
    assert doc.ents[0]._.maskner["score"] == typed[(0, 7)]["score"]
    assert doc.ents[2]._.maskner is None
    # "London" is no existing entity, so it is not typed (auto mode would type it)
    assert "London" in [e.text for e in make_nlp()(ENTS_TEXT).ents]


def test_mode_ents_with_overwrite_removes_the_untyped_entities(make_nlp, plain_engine):
    doc = make_nlp(patterns=RULER, mode="ents", overwrite_ents=True)(ENTS_TEXT)
    groups = [x["group"] for x in plain_engine.tag({"text": ENTS_TEXT, "spans": ENTS_SPANS})["entities"]]
    assert [(e.text, e.label_) for e in doc.ents] == list(zip(["Aspirin", "headache"], groups))


def test_mode_ents_below_threshold_counts_as_untyped(make_nlp, plain_engine):
    scores = {x["word"]: x["score"] for x in plain_engine.tag({"text": ENTS_TEXT, "spans": ENTS_SPANS})["entities"]}
    assert scores["Aspirin"] < 0.65 < scores["headache"]
    doc = make_nlp(patterns=RULER, mode="ents", threshold=0.65)(ENTS_TEXT)
    assert [(e.text, e.label_, e._.maskner is None) for e in doc.ents] == [
        ("Aspirin", "CHEM", True),
        ("headache", "DISEASE", False),
        ("%", "UNIT", True),
    ]


def test_mode_ents_on_docs_built_by_hand_and_without_entities(make_nlp):
    component = make_nlp(mode="ents").get_pipe("maskner")
    vocab = make_nlp(mode="ents").vocab
    words = ["Aspirin", "cut", "headache", "by", "42", "%", "in", "London", "."]
    doc = Doc(vocab, words=words, spaces=[True] * 8 + [False], ents=["B-CHEM", "O", "O", "O", "O", "O", "O", "B-GPE", "O"])
    bare = Doc(vocab, words=words, spaces=[True] * 8 + [False])
    out = list(component.pipe([doc, bare]))
    assert [e.text for e in out[0].ents] == ["Aspirin", "London"]
    assert all(e._.maskner is not None and e.label_ == e._.maskner["group"] for e in out[0].ents)
    assert out[0].ents[1].label_ != "GPE"
    assert out[1].ents == ()  # no spans to type: nothing found by itself


# -- style="span" ---------------------------------------------------------------------------


def test_style_span_fills_the_span_group_and_leaves_ents_untouched(make_nlp, nlp):
    patterns = [{"label": "GPE", "pattern": "London"}]
    tagged = make_nlp(patterns=patterns, style="span", spans_key="mk")(SENTENCES[0])
    assert [(e.text, e.label_) for e in tagged.ents] == [("London", "GPE")]
    assert tagged.ents[0]._.maskner is None
    assert "maskner" not in tagged.spans
    reference = nlp(SENTENCES[0])
    assert entity_tuples(tagged.spans["mk"]) == entity_tuples(reference)
    # overlapping spans are allowed: "London hospitals" overlaps the ruler's "London"
    assert "London hospitals" in [s.text for s in tagged.spans["mk"]]


# -- threshold, keep, overwrite_ents --------------------------------------------------------


def test_threshold_drops_entities_below_it(make_nlp, nlp):
    everything = [e for t in SENTENCES for e in entity_tuples(nlp(t))]
    kept = [e for t in SENTENCES for e in entity_tuples(make_nlp(threshold=0.5)(t))]
    assert any(e[4]["score"] < 0.5 for e in everything) and any(e[4]["score"] >= 0.5 for e in everything)
    assert kept == [e for e in everything if e[4]["score"] >= 0.5]


def test_keep_filters_by_group_or_subtype(make_nlp, nlp):
    everything = [e for t in SENTENCES for e in entity_tuples(nlp(t))]
    kept = [e for t in SENTENCES for e in entity_tuples(make_nlp(keep=["disease", "DRUG"])(t))]
    by_group = [e for e in everything if e[4]["group"] == "DISEASE"]
    by_subtype = [e for e in everything if e[4]["subtype"] == "DRUG"]
    assert by_group and by_subtype and len(everything) > len(by_group) + len(by_subtype)
    assert kept == [e for e in everything if e[4]["group"] == "DISEASE" or e[4]["subtype"] == "DRUG"]


OVERLAP_RULER = [{"label": "GPE", "pattern": "London"}, {"label": "VERB", "pattern": "helps"}]


def test_overwrite_ents_false_keeps_existing_entities_and_adds_non_overlapping_ones(make_nlp, nlp):
    mine = [(e.text, e.label_) for e in nlp(SENTENCES[0]).ents]
    assert ("London hospitals", "BODY_PART_OR_ORGAN_COMPONENT") in mine
    doc = make_nlp(patterns=OVERLAP_RULER)(SENTENCES[0])
    expected = [m for m in mine if m[0] != "London hospitals"] + [("helps", "VERB"), ("London", "GPE")]
    assert sorted((e.text, e.label_) for e in doc.ents) == sorted(expected)
    assert {e.text for e in doc.ents if e._.maskner is None} == {"helps", "London"}


def test_overwrite_ents_true_replaces_existing_entities(make_nlp, nlp):
    doc = make_nlp(patterns=OVERLAP_RULER, overwrite_ents=True)(SENTENCES[0])
    assert entity_tuples(doc) == entity_tuples(nlp(SENTENCES[0]))


# -- alignment failures ---------------------------------------------------------------------


class StubEngine:
    """Returns fixed records: one entity on a token, one in the double space, one past the end."""

    def tag(self, texts, **kwargs):
        out = []
        for text in texts:
            ents = [
                {"start": 0, "end": 7, "word": "Aspirin", "group": "DISEASE", "subtype": "DISEASE", "tag": "B_DISEASE", "score": 0.9, "member": "bio"},
                {"start": 7, "end": 8, "word": " ", "group": "GENE", "subtype": "GENE", "tag": "B_GENE", "score": 0.9, "member": "bio"},
                {"start": 50, "end": 60, "word": "?", "group": "GENE", "subtype": "PROTEIN", "tag": "B_GENE", "score": 0.9, "member": "phi", "label": "Protein"},
            ]
            out.append({"id": 1, "text": text, "terms": [], "entities": ents})
        return out


def test_unaligned_entities_are_counted_and_warned(monkeypatch):
    nlp = spacy.blank("en")
    component = MasknerComponent(StubEngine(), name="stub")
    doc = nlp.make_doc("Aspirin  treats pain.")
    assert [t.text for t in doc][:2] == ["Aspirin", " "]
    with pytest.warns(AlignmentWarning) as caught:
        component(doc)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "characters 7..8 of doc 0" in messages[0] and "'Aspirin  treats pain.'" in messages[0]
    assert "characters 50..60 of doc 0" in messages[1]
    assert component.alignment_failures == 2
    assert doc.user_data["maskner"] == {"unaligned": 2}
    assert [(e.text, e.label_) for e in doc.ents] == [("Aspirin", "DISEASE")]
    assert doc.ents[0]._.maskner == {"group": "DISEASE", "subtype": "DISEASE", "score": 0.9, "member": "bio", "second": None, "label": None}
    with pytest.warns(AlignmentWarning):
        list(component.pipe([nlp.make_doc("Aspirin  again"), nlp.make_doc("Aspirin  x")]))
    assert component.alignment_failures == 6


# -- engine errors --------------------------------------------------------------------------


def test_an_engine_error_names_the_doc_in_the_stream(nlp):
    component = nlp.get_pipe("maskner")
    texts = [SENTENCES[0]] * 5 + ["word " * 5000] + [SENTENCES[1]] * 2
    stream = component.pipe((nlp.make_doc(t) for t in texts), batch_size=3)
    done = [next(stream) for _ in range(3)]  # the first batch is fine
    assert all(d.ents for d in done)
    with pytest.raises(maskner.LimitError) as err:
        next(stream)
    assert err.value.index == 5
    assert str(err.value).startswith("docs[5]: member bio: ")
    with pytest.raises(maskner.LimitError) as err:
        nlp("word " * 5000)
    assert err.value.index == 0 and str(err.value).startswith("docs[0]: ")


# -- displaCy -------------------------------------------------------------------------------


def test_displacy_renders_engine_records_and_tagged_docs(nlp, plain_engine):
    texts = SENTENCES[:3]
    records = plain_engine.tag(texts, format="displacy")
    html = displacy.render(records, style="ent", manual=True, jupyter=False)
    n = 0
    for record in records:
        for ent in record["ents"]:
            assert record["text"][ent["start"] : ent["end"]] in html
            n += 1
    assert n >= 8 and html.count("<mark") == n

    doc = nlp(texts[0])
    html = displacy.render(doc, style="ent", jupyter=False)
    assert len(doc.ents) >= 3 and html.count("<mark") == len(doc.ents)
    for ent in doc.ents:
        assert ent.text in html and ent.label_ in html


def test_displacy_renders_the_span_group(make_nlp):
    doc = make_nlp(style="span")(SENTENCES[0])
    html = displacy.render(doc, style="span", options={"spans_key": "maskner"}, jupyter=False)
    assert doc.spans["maskner"]
    for span in doc.spans["maskner"]:
        assert span.label_ in html


# -- the extension, serialization, pickling -------------------------------------------------


def test_the_extension_survives_re_registration_and_doc_serialization(nlp):
    Span.set_extension("maskner", default=None, force=True)  # another registration, same spec
    doc = nlp(SENTENCES[0])
    assert doc.ents and all(e._.maskner["group"] == e.label_ for e in doc.ents)
    again = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert entity_tuples(again) == entity_tuples(doc)
    assert again.user_data["maskner"] == {"unaligned": 0}


def test_a_factory_made_component_pickles_with_its_settings(make_nlp):
    nlp = make_nlp(threshold=0.5, style="span")
    component = nlp.get_pipe("maskner")
    copy = pickle.loads(pickle.dumps(component))
    assert copy is not component and copy.engine is not component.engine
    assert (copy.threshold, copy.style, copy.batch_size) == (0.5, "span", 32)
    a, b = nlp.make_doc(SENTENCES[1]), nlp.make_doc(SENTENCES[1])
    assert entity_tuples(component(a).spans["maskner"]) == entity_tuples(copy(b).spans["maskner"])
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(MasknerComponent(component.engine))
