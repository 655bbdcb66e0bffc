"""--help of every command in both CLIs (native and npm), and the npm package's README, list exactly
the flags their parsers accept: the parsers' flags are read from the sources (the native CLI's
strcmp calls, the npm CLI's OPTIONS table), the help from running the tools."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_CLI = os.path.join(ROOT, "node", "bin", "pt2returnn.js")
COMMANDS = ["inspect", "run", "convert"]
FLAG = re.compile(r"(?<![\w.\-/])(--?[a-z][a-z\-]*)")


def help_flags(text):
    return set(FLAG.findall(text))


def native_parser_flags(command):
    source = open(os.path.join(ROOT, "cli", "main.c" if command == "main" else f"cmd_{command}.c")).read()
    return set(re.findall(r'strcmp\(\w+(?:\[\d\])?, "(-[^"]+)"\)', source))


def node_parser_flags(command):
    if command == "main":
        source = open(NODE_CLI).read()
        return set(re.findall(r"command === '(-[^']+)'", source))
    script = (f"import({json.dumps(NODE_CLI)}).then((m) => console.log(JSON.stringify(m.OPTIONS)))")
    options = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    return set(options[command]["valued"]) | set(options[command]["flags"]) | {"-h", "--help"}


def options_part(command, text):
    """The main help lists the commands (with their own flags) before its options."""
    return text.split("\noptions:\n")[1] if command == "main" else text


def native_help(pt2returnn, command):
    args = ["--help"] if command == "main" else [command, "--help"]
    r = subprocess.run([pt2returnn, *args], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == ""
    return options_part(command, r.stdout)


def node_help(command):
    args = ["--help"] if command == "main" else [command, "--help"]
    r = subprocess.run(["node", NODE_CLI, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return options_part(command, r.stdout)


@pytest.mark.parametrize("command", COMMANDS + ["main"])
def test_native_help_lists_exactly_the_parsed_flags(pt2returnn, command):
    assert help_flags(native_help(pt2returnn, command)) == native_parser_flags(command)


@pytest.mark.parametrize("command", COMMANDS + ["main"])
def test_node_help_lists_exactly_the_parsed_flags(command):
    assert help_flags(node_help(command)) == node_parser_flags(command)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_in_help_is_accepted(pt2returnn, command):
    """Running each listed flag never gives 'unknown option' (in both CLIs)."""
    for flag in help_flags(native_help(pt2returnn, command)):
        r = subprocess.run([pt2returnn, command, flag], capture_output=True, text=True)
        assert "unknown option" not in r.stderr, (command, flag, r.stderr)
    for flag in help_flags(node_help(command)):
        r = subprocess.run(["node", NODE_CLI, command, flag], capture_output=True, text=True)
        assert "unknown option" not in r.stderr, (command, flag, r.stderr)


def usage_block(text):
    """The usage lines at the top of a help text, up to the first blank line."""
    return text.split("\n\n")[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_node_readme_usage_matches_the_help(command):
    readme = open(os.path.join(ROOT, "node", "README.md")).read()
    block = readme.split("## CLI")[1].split("\n\n")[1]  # the indented usage lines
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if f"pt2returnn {command} " in line)
    end = next((i for i in range(start + 1, len(lines)) if "npx pt2returnn" in lines[i]), len(lines))
    readme_flags = help_flags("\n".join(lines[start:end]))
    assert readme_flags == help_flags(usage_block(node_help(command))), command
    assert readme_flags <= node_parser_flags(command)
