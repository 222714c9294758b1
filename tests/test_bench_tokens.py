"""Token counters for answers streamed without usage: a local tokenizer.json, or the server's tokenize route.

Ground truth comes from the fake SSE server itself (it knows how many pieces it streamed); its tokenize routes and
devtools.fake_tokenizer count with the same regex, so every count here must match that truth exactly.
"""

from __future__ import annotations

import random
import socket
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from foundry_tui.backends.endpoint_tokenize import ServerTokenCounter, server_tokenizer
from foundry_tui.devtools.fake_tokenizer import write_fake_tokenizer
from foundry_tui.devtools.sse_server import DEFAULT_TOKENS, FakeOpenAIServer, StreamScript, fake_tokenize, make_tokens
from foundry_tui.devtools.tiny_model import TINY_ANSWER, TINY_COMPLETION_TOKENS
from foundry_tui.engine.bench.tokens import TokenCounter, load_tokenizer
from foundry_tui.errors import BackendError, BadInputError
from foundry_tui.paths import default_data_dir

MSGS: list[Any] = [{"role": "user", "content": "say something long"}]
LOREM = "".join(make_tokens(50))


@pytest.fixture(scope="module")
def fake_tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_tokenizer(tmp_path_factory.mktemp("tok") / "fake-model")


@pytest.fixture
def srv() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(tokenize_route=True) as server:
        yield server


def streamed_text(server: FakeOpenAIServer, **kw: Any) -> tuple[str, int, Any]:
    """The answer's text, its number of content events, and the usage the stream carried (None without)."""
    with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model="fake-model", messages=MSGS, stream=True, stream_options={"include_usage": True}, **kw
            )
        )
    parts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    usage = next((c.usage for c in chunks if c.usage is not None), None)
    return "".join(parts), len(parts), usage


def one_line_error(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text
    return text


# -- a local tokenizer.json -----------------------------------------------------------------------------------------


def test_file_and_directory_count_like_the_fake_server(fake_tokenizer_file: Path) -> None:
    for given in (fake_tokenizer_file, fake_tokenizer_file.parent, str(fake_tokenizer_file)):
        counter: TokenCounter = load_tokenizer(given)
        assert counter.source == "tokenizer"
        assert counter.label == f"tokenizer.json at {fake_tokenizer_file.parent}"
        assert counter.count(LOREM) == 50
        assert counter.count("".join(DEFAULT_TOKENS)) == len(DEFAULT_TOKENS)
        assert counter.count("") == 0
        counter.close()
    counter = load_tokenizer(fake_tokenizer_file)
    rng = random.Random(12)
    alphabet = [*"ab Z_09 \t\n\r.,<>s-", "é", "日", "😀", "\u00a0", "\u0301", "\u2028", "\x85"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert counter.count(text) == len(fake_tokenize(text)), repr(text)


def test_special_tokens_truncation_and_padding_never_count(fake_tokenizer_file: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(fake_tokenizer_file))
    assert len(raw.encode(LOREM).ids) == 51  # the file's template adds a BOS; counts must not
    raw.enable_truncation(8)
    raw.enable_padding(length=64)
    raw.save(str(tmp_path / "tokenizer.json"))
    assert len(Tokenizer.from_file(str(tmp_path / "tokenizer.json")).encode(LOREM).ids) == 64
    assert load_tokenizer(tmp_path).count(LOREM) == 50


def test_directory_searched_one_level_down(fake_tokenizer_file: Path, tmp_path: Path) -> None:
    variant = tmp_path / "cache" / "model-3" / "v1"
    variant.mkdir(parents=True)
    (variant / "tokenizer.json").write_bytes(fake_tokenizer_file.read_bytes())
    counter = load_tokenizer(tmp_path / "cache" / "model-3")
    assert counter.count(LOREM) == 50 and str(variant) in counter.label
    (variant.parent / "v2").mkdir()
    (variant.parent / "v2" / "tokenizer.json").write_bytes(fake_tokenizer_file.read_bytes())
    with pytest.raises(BadInputError) as err:
        load_tokenizer(variant.parent)
    assert "2 tokenizer.json files below it (v1, v2): name one" in one_line_error(err.value)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: d / "missing", "no such file or directory"),
        (lambda d: d, "no tokenizer.json there"),
        (lambda d: (d / "tokenizer.model").write_bytes(b"\x00spm") and d, "SentencePiece tokenizer.model"),
        (lambda d: (d / "model.onnx").write_bytes(b"\x08\x07onnx" * 100) and d / "model.onnx", "not a JSON object"),
        (lambda d: (d / "tokenizer.json").write_text("[1, 2]") and d, "not a JSON object"),
        (lambda d: (d / "tokenizer.json").write_text('{"model": "nope"}') and d, "not a tokenizer.json the tokenizers"),
        (lambda d: (d / "tokenizer.json").write_text("{ broken") and d, "not a tokenizer.json the tokenizers"),
    ],
)
def test_bad_paths_are_one_line_errors_naming_the_path(make: Any, expected: str, tmp_path: Path) -> None:
    given = make(tmp_path)
    with pytest.raises(BadInputError) as err:
        load_tokenizer(given)
    text = one_line_error(err.value)
    assert text.startswith(f"--tokenizer {given}: ") and expected in text
    assert err.value.exit_code == 2


def test_control_characters_in_a_path_are_escaped(tmp_path: Path) -> None:
    with pytest.raises(BadInputError) as err:
        load_tokenizer(tmp_path / "evil\n\x1b[31mname")
    assert "\x1b" not in one_line_error(err.value)


def test_tokenizers_library_missing(fake_tokenizer_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # makes `import tokenizers` raise ImportError
    with pytest.raises(BadInputError) as err:
        load_tokenizer(fake_tokenizer_file)
    assert "pip install tokenizers" in one_line_error(err.value)


def test_a_real_byte_level_bpe_tokenizer(tiny_model_dir: Path) -> None:
    """The tiny model's tokenizer.json is a GPT-2-style one with ChatML specials, as SmolLM2 ships."""
    counter = load_tokenizer(tiny_model_dir)
    assert counter.count(TINY_ANSWER) == TINY_COMPLETION_TOKENS
    assert counter.count("<|im_end|>") == 1  # a special token in the text counts once, as servers count it


def _smollm2_tokenizer() -> Path | None:
    found = sorted((default_data_dir() / "models").glob("smollm2*/tokenizer.json"))
    return found[0] if found else None


@pytest.mark.skipif(_smollm2_tokenizer() is None, reason="no imported SmolLM2 model (foundry-tui import --demo)")
def test_the_imported_smollm2_tokenizer() -> None:
    from tokenizers import Tokenizer

    path = _smollm2_tokenizer()
    assert path is not None
    counter = load_tokenizer(path.parent)
    reference = Tokenizer.from_file(str(path))
    long_text = "The quick brown fox jumps over the lazy dog. " * 300  # past any max_length a file may carry
    for text in ("Hello from the fake server.", LOREM, long_text, "naïve café, 日本語 😀\n\tcode()"):
        assert counter.count(text) == len(reference.encode(text, add_special_tokens=False).ids)
    assert counter.count("Hello from the fake server.") == 6
    assert counter.count(long_text) > 2000


# -- the server's tokenize route --------------------------------------------------------------------------------------


def test_no_route_means_no_counter() -> None:
    with FakeOpenAIServer() as server:  # tokenize routes off: every probe gets a 404
        assert server_tokenizer(server.url, "fake-model") is None
        probed = [(r["method"], r["path"]) for r in server.requests]
    assert probed == [
        ("POST", "/tokenize"),
        ("POST", "/tokenize"),
        ("POST", "/v1/tokenize"),
        ("POST", "/extras/tokenize/count"),
    ]


def test_nothing_listening_means_no_counter() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert server_tokenizer(f"http://127.0.0.1:{port}", "m", timeout_s=1.0) is None


def test_llama_cpp_shape(srv: FakeOpenAIServer) -> None:
    counter = server_tokenizer(srv.url + "/", "fake-model", api_key="sk-test")
    assert isinstance(counter, ServerTokenCounter)
    as_protocol: TokenCounter = counter  # mypy checks the engine's protocol is met without the import
    with counter:
        assert as_protocol.source == "server"
        assert (counter.source, counter.shape, counter.offset) == ("server", "llama.cpp", 0)
        assert counter.label == f"{srv.url}/tokenize"
        srv.reset()
        assert counter.count(LOREM) == 50
        assert counter.count("") == 0  # asks nothing
        (request,) = srv.requests
    assert request["body"] == {"content": LOREM, "add_special": False, "parse_special": True, "with_pieces": False}
    assert request["headers"]["Authorization"] == "Bearer sk-test"


def test_vllm_shape_under_v1() -> None:
    with FakeOpenAIServer(tokenize_route="/v1/tokenize") as server:
        counter = server_tokenizer(server.url, "fake-model")
        assert counter is not None
        with counter:
            assert (counter.shape, counter.label, counter.offset) == ("vllm", f"{server.url}/v1/tokenize", 0)
            assert counter.count(LOREM) == 50
        body = server.requests[-1]["body"]
        assert body == {"model": "fake-model", "prompt": LOREM, "add_special_tokens": False}
        assert server_tokenizer(server.url, "not-served") is None  # vLLM refuses a model it does not serve
        unnamed = server_tokenizer(server.url, "")  # no model id known: vLLM counts with the one it serves
        assert unnamed is not None
        with unnamed:
            assert unnamed.count(LOREM) == 50 and "model" not in server.requests[-1]["body"]


def test_vllm_shape_at_the_root(srv: FakeOpenAIServer) -> None:
    """vLLM serves /tokenize too; the fake answers there in llama.cpp's shape first, so ask in vLLM's directly."""
    with ServerTokenCounter(httpx.Client(base_url=srv.url), srv.url, "/tokenize", "vllm", "fake-model") as counter:
        assert counter.count(LOREM) == 50
    assert srv.requests[-1]["body"]["prompt"] == LOREM


def test_llama_cpp_python_shape_takes_its_bos_off() -> None:
    with FakeOpenAIServer(tokenize_route=("/extras/tokenize", "/extras/tokenize/count")) as server:
        counter = server_tokenizer(server.url, "fake-model")
        assert counter is not None
        with counter:
            assert (counter.shape, counter.path, counter.offset) == ("llama-cpp-python", "/extras/tokenize/count", 1)
            assert counter.count(LOREM) == 50
            assert counter.count(".") == 1


def test_three_tokens_per_chunk_without_usage_count_exactly(fake_tokenizer_file: Path) -> None:
    script = StreamScript(tokens=make_tokens(30), tokens_per_chunk=3, usage=False)
    with FakeOpenAIServer(script, tokenize_route=True) as server:
        text, events, usage = streamed_text(server)
        assert usage is None and events == 10  # what a client sees: 10 events, no usage
        cut, cut_events, _ = streamed_text(server, max_tokens=17)
        server.script.usage = True
        truth = streamed_text(server)[2].completion_tokens
        cut_truth = streamed_text(server, max_tokens=17)[2].completion_tokens
        assert (truth, cut_truth, cut_events) == (30, 17, 6)
        counter = server_tokenizer(server.url, "fake-model")
        assert counter is not None
        with counter:
            assert (counter.count(text), counter.count(cut)) == (truth, cut_truth)
    local = load_tokenizer(fake_tokenizer_file)
    assert (local.count(text), local.count(cut)) == (truth, cut_truth)


def test_counts_from_many_threads(srv: FakeOpenAIServer, fake_tokenizer_file: Path) -> None:
    texts = ["".join(make_tokens(n)) for n in range(1, 41)]
    counter = server_tokenizer(srv.url, "fake-model")
    assert counter is not None
    local = load_tokenizer(fake_tokenizer_file)
    with counter, ThreadPoolExecutor(8) as pool:
        assert list(pool.map(counter.count, texts)) == list(range(1, 41))
        assert list(pool.map(local.count, texts)) == list(range(1, 41))


def test_a_later_failure_is_a_one_line_backend_error(srv: FakeOpenAIServer) -> None:
    url = srv.url
    counter = server_tokenizer(url, "fake-model", timeout_s=2.0)
    assert counter is not None
    with counter:
        srv.tokenize_paths = ()  # the route goes away: 404 with an OpenAI error body
        with pytest.raises(BackendError) as err:
            counter.count(LOREM)
        assert one_line_error(err.value) == f"tokenize at {url}/tokenize: HTTP 404: No route for POST /tokenize"
        assert err.value.kind == "http"
        srv.stop()
        with pytest.raises(BackendError) as err:
            counter.count(LOREM)
        assert one_line_error(err.value).startswith(f"tokenize at {url}/tokenize failed: ")
        assert err.value.kind == "network"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(200, json={"count": 4, "max_model_len": 8, "tokens": [1, 2, 3, 4]}), 4),
        (httpx.Response(200, json={"tokens": [{"id": 1, "piece": "a"}, {"id": 2, "piece": [195]}]}), 2),
        (httpx.Response(200, json={"tokens": [7]}), 1),
        (httpx.Response(200, json={"count": True}), "the answer holds no token count"),
        (httpx.Response(200, json={"tokens": "nope"}), "the answer holds no token count"),
        (httpx.Response(200, text="<html>\n<body>web ui</body>"), "no token count: <html> <body>web ui</body>"),
        (httpx.Response(500, json={"detail": "boom\nagain"}), "HTTP 500: boom again"),
        (httpx.Response(400, json={"object": "error", "message": "bad", "code": 400}), "HTTP 400: bad"),
    ],
)
def test_answers_are_read_or_refused_in_one_line(answer: httpx.Response, expected: int | str) -> None:
    client = httpx.Client(base_url="http://h:1", transport=httpx.MockTransport(lambda request: answer))
    with ServerTokenCounter(client, "http://h:1", "/tokenize", "vllm", "m") as counter:
        if isinstance(expected, int):
            assert counter.count("text") == expected
            return
        with pytest.raises(BackendError) as err:
            counter.count("text")
    assert expected in one_line_error(err.value)


def test_timeouts_and_a_closed_counter_are_one_line_errors() -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(base_url="http://h:1", transport=httpx.MockTransport(stall))
    counter = ServerTokenCounter(client, "http://h:1", "/tokenize", "llama.cpp", "m")
    with pytest.raises(BackendError) as err:
        counter.count("text")
    assert one_line_error(err.value) == "tokenize at http://h:1/tokenize timed out" and err.value.kind == "network"
    counter.close()
    with pytest.raises(BackendError) as err:
        counter.count("text")
    assert one_line_error(err.value).startswith("tokenize at http://h:1/tokenize failed: ")


def test_a_root_given_with_v1_is_probed_beside_it(srv: FakeOpenAIServer) -> None:
    counter = server_tokenizer(srv.base_url + "/", "fake-model")
    assert counter is not None
    with counter:
        assert counter.label == f"{srv.url}/tokenize"
