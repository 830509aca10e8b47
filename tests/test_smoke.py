from click.testing import CliRunner

from lime_cli.cli import cli


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "text" in result.output
