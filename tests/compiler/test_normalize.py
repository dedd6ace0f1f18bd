"""normalize's index form: parent lists, children and parent ids agree with the graph."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from dagbatch.compiler.ranges import integer_like_ids
from dagbatch.compiler.spec import WorkflowSpec, normalize
from dagbatch.compiler.validate import validate
from dagbatch.limits import DEFAULT_API_VERSION

N = 10


@settings(max_examples=150, deadline=None)
@given(
    st.permutations(range(N)),
    st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, N - 1)), max_size=40),
    st.sampled_from(["str", "int", "mixed"]),
)
def test_children_and_parent_ids_follow_the_parent_lists(
    nodes: list[int], edges: list[tuple[int, int]], style: str
) -> None:
    def key(k: int) -> str | int:
        return f"t{k}" if style == "str" or (style == "mixed" and k % 2) else k

    g = nx.DiGraph()
    for k in nodes:  # node order differs from the order edges are added in
        g.add_node(key(k), command_line="x")
    g.add_edges_from((key(u), key(v)) for u, v in edges)
    spec, _ = normalize(g, api_version=DEFAULT_API_VERSION)

    index = {k: i for i, k in enumerate(g)}
    loops = {index[key(u)] for u, v in edges if u == v}
    assert set(spec.self_loops) == loops
    for i, k in enumerate(g):
        # parents in networkx's order, without the self-loop
        assert spec.preds[i] == tuple(index[p] for p in g.pred[k] if p != k)
    # children in index order
    assert spec.succ == list(
        [v for v, ps in enumerate(spec.preds) if u in ps] for u in range(len(spec.ids))
    )
    if style == "str":
        assert spec.parent_ids == tuple(tuple(spec.ids[p] for p in ps) for ps in spec.preds)
    else:
        assert spec.parent_ids is None


def test_an_unknown_edge_attribute_is_an_error_naming_the_edge() -> None:
    """A misspelt `when` was ignored: the failure handler then ran on success."""
    g = nx.DiGraph()
    for n in "abcd":
        g.add_node(n, command_line="/bin/true")
    g.add_edge("a", "b", whne="failure")
    g.add_edge("a", "c", weight=2, _mine="kept out")  # '_' attributes are the user's own
    g.add_edge("a", "d", when="failure", _note="fine")

    spec, diags = normalize(g, api_version=DEFAULT_API_VERSION)

    unknown = [d for d in diags if d.code == "unknown-property"]
    assert [(d.task_id, d.field) for d in unknown] == [("b", "whne"), ("c", "weight")]
    assert "edge a -> b" in unknown[0].message
    assert unknown[0].hint is not None and "did you mean 'when'" in unknown[0].hint
    assert all(d.severity == "error" for d in unknown)
    a, d = spec.ids.index("a"), spec.ids.index("d")
    assert spec.when == {(a, d): "failure"}


def test_unknown_nested_and_job_properties_get_did_you_mean() -> None:
    """Only top-level task properties had it; nested ones and the job's said 'check the
    spelling'."""
    g = nx.DiGraph()
    g.graph["job"] = {"pool": "p", "jobId": "x"}
    g.add_node("a", command_line="x", constraints={"max_wall_clock": "PT1H"})
    g.add_node("b", command_line="x", resource_files=[{"http_url": "https://h/f", "file_pth": "f"}])

    _, diags = normalize(g, api_version=DEFAULT_API_VERSION)

    hints = {d.field: d.hint for d in diags if d.code == "unknown-property"}
    assert hints["constraints.max_wall_clock"] == "did you mean 'max_wall_clock_time'?"
    assert hints["resource_files[0].file_pth"] == "did you mean 'file_path'?"
    assert hints["job.pool"] == "did you mean pool_id in graph.graph['job']?"
    assert hints["job.jobId"] == "did you mean id in graph.graph['job']?"


def test_an_environment_variable_without_a_name_is_an_error() -> None:
    g = nx.DiGraph()
    g.add_node("a", command_line="x", environment_settings={"": "x", "B": "1"})

    _, diags = normalize(g, api_version=DEFAULT_API_VERSION)

    errors = [(d.task_id, d.field) for d in diags if d.severity == "error"]
    assert errors == [("a", "environment_settings[''].name")]


#: Node keys for the integer-id scan: ints (negative ones too), and str ids that an integer
#: parser takes as well ("7", "007", "-0") or not.
_KEYS = st.one_of(
    st.integers(-50, 10**12),
    st.sampled_from(["7", "007", "-0", "0", "12", "prepare", "reduce", "x-1", "1a"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_KEYS, min_size=1, max_size=30, unique_by=lambda k: str(k)), st.booleans())
def test_int_keys_give_the_integer_ids_a_scan_of_the_ids_gives(
    keys: list[int | str], run_first: bool
) -> None:
    """normalize fills in the integer-like ids from int keys without scanning or parsing
    them: the same indices, texts and values as the scan of all ids (its general form),
    for a run of int keys between str ones (a sweep) and for keys in any order."""
    if run_first:  # a sweep's shape: str keys around one run of int keys
        strs = [k for k in keys if type(k) is str]
        keys = strs[:1] + [k for k in keys if type(k) is int] + strs[1:]
    g = nx.DiGraph()
    g.add_nodes_from(keys, command_line="x")
    spec, _ = normalize(g, api_version=DEFAULT_API_VERSION)
    scan = WorkflowSpec(**{f: getattr(spec, f) for f in WorkflowSpec.__dataclass_fields__})
    assert scan.integer_like == integer_like_ids(spec.ids)
    assert spec.integer_like == scan.integer_like
    assert spec.integer_like_texts == scan.integer_like_texts
    assert spec.integer_like_values == scan.integer_like_values


def test_a_misspelt_edge_when_gets_did_you_mean() -> None:
    """``when="fail"`` said only the three values; a misspelling now gets the closest one."""
    g = nx.DiGraph()
    g.add_node("a", command_line="x")
    g.add_node("b", command_line="x")
    g.add_node("c", command_line="x")
    g.add_edge("a", "b", when="fail")
    g.add_edge("a", "c", when="sometimes")
    _, diags = normalize(g, api_version=DEFAULT_API_VERSION)
    hints = {d.task_id: d.hint for d in diags if d.code == "invalid-enum"}
    assert hints["b"] == "did you mean 'failure'? when='success' (default), 'failure' or 'always'"
    assert hints["c"] == "when='success' (default), 'failure' or 'always'"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(-3, 30),
            st.sampled_from(["7", "07", "a", "A", "b", "B-1", "b-1", "12", "x"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_the_ids_that_may_coincide_find_every_duplicate(keys: list[int | str]) -> None:
    """normalize may narrow the ids compared for duplicates (ignoring case) to the str
    keys' when no str id is a number: the answer is the same as comparing all of them."""
    g = nx.DiGraph()
    g.add_nodes_from(keys, command_line="x")
    spec, _ = normalize(g, api_version=DEFAULT_API_VERSION)
    everyone = [i.lower() for i in spec.ids]
    narrowed = [i.lower() for i in spec.may_coincide]
    assert (len(set(everyone)) == len(everyone)) == (len(set(narrowed)) == len(narrowed))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "A", "b", "b-1", "B-1", "x", "7"]), min_size=1, max_size=8))
def test_ids_distinct_as_given_only_when_they_are(keys: list[str]) -> None:
    """``distinct_as_given`` (str node keys) holds exactly when the ids are distinct, and
    validate still finds every duplicate ignoring case."""
    g = nx.DiGraph()
    g.add_nodes_from(keys, command_line="x")
    spec, _ = normalize(g, api_version=DEFAULT_API_VERSION)
    assert spec.distinct_as_given and len(set(spec.ids)) == len(spec.ids)
    folded = [i.lower() for i in spec.ids]
    duplicates = [d for d in validate(spec) if d.code == "duplicate-id"]
    assert bool(duplicates) == (len(set(folded)) != len(folded))


_LINES = ["python3 a.py", "", "   ", "\t\n", "x" * 100_000, "x" * 99_999, "echo \x00", "é ünï"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_LINES).map(lambda line: {"command_line": line}),
            st.just({"commandLine": "echo camel"}),
            st.just({"command_line": 7}),
            st.just({"command_line": "echo x", "display_name": "X"}),
            st.just({}),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_all_at_once_check_of_bare_command_lines_agrees_with_each_tasks(
    attributes: list[dict[str, object]],
) -> None:
    """The tasks' properties are the same whether every task is checked at once as a bare
    command line or each is looked at (a task of two attributes sends every task to the
    look at each): the same wire properties, the same diagnostics."""
    graphs = []
    for extra in (False, True):
        g = nx.DiGraph()
        for i, attrs in enumerate(attributes):
            g.add_node(f"t{i}", **attrs)
        if extra:
            g.add_node("other", command_line="echo x", display_name="X")
        graphs.append(normalize(g, api_version=DEFAULT_API_VERSION))
    (at_once, at_once_diags), (each, each_diags) = graphs
    assert at_once.props == each.props[: len(attributes)]
    assert at_once.intents == each.intents[: len(attributes)]
    assert at_once_diags == [d for d in each_diags if d.task_id != "other"]
