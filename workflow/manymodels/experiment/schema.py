"""Check a config against its JSON schema and say what is wrong in one line.

The schema (``workflow/schemas/config.schema.yaml``) describes every key with ``additionalProperties:
false``, so a misspelt key is an error. jsonschema's own messages quote whole sub-documents
("... is not valid under any of the given schemas"); here the most specific failure is found and
phrased with the key path, the file and, for a misspelt key or value, the closest valid names.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .. import ConfigError
from .suggest import with_hint

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
# What the schema's patterns ask for, in words.
_PATTERN_MEANINGS = {
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$": "a dotted path such as sklearn.mixture.GaussianMixture",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$": "a name of letters, digits, '_', '-' and '.' (it names results/<name>/)",
    r"^[A-Za-z][A-Za-z0-9_]*$": "a name of letters, digits and '_', starting with a letter",
}
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


@lru_cache(maxsize=1)
def load_schema() -> dict:
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text())


# Mappings whose entries are estimator arguments: their names must be text, their values are the
# user's own (class_weight: {0: 1, 1: 5} is a valid value, with number keys).
_ARGUMENTS = ("kwargs", "fit_kwargs")
# YAML 1.1 (PyYAML, which Snakemake reads config files with) reads these unquoted words as booleans.
_YAML_BOOLEANS = "on, off, yes, no, true or false"


def normalise_keys(config, *, config_file: str) -> None:
    """Make the config's keys text before anything reads it, in place.

    YAML 1.1 reads an unquoted ``on`` as true, so a metric's ``on: train``, written as the README
    writes it, arrives as ``{True: 'train'}``: it becomes ``on`` again. Any other key that is not
    text (a number, or another of YAML's booleans) is a one-line ConfigError naming it and the file.
    Values are left alone: an estimator argument may be a mapping with number keys.
    """
    if not isinstance(config, dict):
        return

    def check(mapping: dict, path: tuple, *, values: bool = True) -> None:
        for key in list(mapping):
            if key is True and len(path) == 2 and path[0] == "metrics" and "on" not in mapping:
                mapping["on"] = mapping.pop(True)  # YAML's reading of `on: train`
                continue
            if not isinstance(key, str):
                where = ".".join(map(str, path)) or "top level"
                hint = (f"YAML reads an unquoted {_YAML_BOOLEANS} as {str(key).lower()}" if isinstance(key, bool)
                        else "a key must be a name")
                raise ConfigError(f"{config_file}: {where}: key {key!r} is not text ({hint}); quote the key in the file")
        if not values:
            return
        for key, value in mapping.items():
            here = (*path, key)
            if key in _ARGUMENTS and isinstance(value, dict):
                check(value, here, values=False)  # argument names only
            elif key == "grid":
                for i, grid in enumerate(value if isinstance(value, list) else [value]):
                    if isinstance(grid, dict):
                        check(grid, here + ((i,) if isinstance(value, list) else ()), values=False)
            elif key == "choice":
                continue  # a list of values
            elif isinstance(value, dict):
                check(value, here)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        check(item, (*here, i))

    check(config, ())


def check_schema(config, *, config_file: str) -> None:
    """Raise ConfigError with one line naming the key, the problem and the file, if ``config`` is invalid."""
    message = describe_schema_error(config, config_file=config_file)
    if message is not None:
        raise ConfigError(message)


def describe_schema_error(config, *, config_file: str) -> str | None:
    """The one-line explanation of the most specific schema error, or None for a valid config."""
    import jsonschema

    errors = list(jsonschema.Draft202012Validator(load_schema()).iter_errors(config))
    if not errors:
        return None
    # The most relevant error, without jsonschema's own descent into oneOf branches: that descent
    # would follow a branch the value was never meant for (a string checked as a mapping).
    error = max(errors, key=jsonschema.exceptions.relevance)
    return f"{config_file}: {_explain(_most_specific(error))}"


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _type_matches(instance, schema: dict) -> bool:
    """Whether ``instance`` has (one of) the JSON types a schema branch declares (or it declares none)."""
    kinds = schema.get("type")
    if kinds is None:
        if "enum" in schema:
            return any(type(instance) is type(v) for v in schema["enum"])
        if "properties" in schema or "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
            return isinstance(instance, dict)
        return True
    kinds = kinds if isinstance(kinds, list) else [kinds]
    checks = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    for kind in kinds:
        if kind in checks and isinstance(instance, checks[kind]) and not (kind != "boolean" and isinstance(instance, bool)):
            return True
        if kind in ("integer", "number") and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            return kind == "number" or float(instance).is_integer()
    return False


def _most_specific(error):
    """For a failed oneOf/anyOf, the error inside the branch the value was evidently meant for."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[int, list] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        schemas = error.validator_value
        import jsonschema

        matching = [errs for i, errs in branches.items() if _type_matches(error.instance, _resolve(schemas[i]))]
        if not matching:
            return error
        # Several branches take this type (two forms of a mapping): the one that fits best, with the
        # fewest errors and, among those, the most of the value's keys known.
        error = max(min(matching, key=lambda errs: (len(errs), -_known_keys(error.instance, errs))),
                    key=jsonschema.exceptions.relevance)
    return error


def _known_keys(instance, errors) -> int:
    if not isinstance(instance, dict):
        return 0
    known = set()
    for e in errors:
        known |= set(e.schema.get("properties", {})) if isinstance(e.schema, dict) else set()
    return len(set(instance) & known)


def _resolve(schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return load_schema()["$defs"][ref.removeprefix("#/$defs/")]
    return schema


def _explain(error) -> str:
    key = _key(error.absolute_path)
    schema, instance = error.schema, error.instance
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        unknown = [k for k in instance if k not in known]
        if unknown and known:
            where = key if error.absolute_path else "top level"
            return with_hint(f"{where}: unknown key '{unknown[0]}'", unknown[0], known)
    if error.validator == "required":
        return f"{key}: {error.message.replace(' is a required property', '')} is required here"
    if error.validator == "enum":
        return with_hint(f"{key}: {instance!r} is not allowed", str(instance), [str(v) for v in error.validator_value])
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        wanted = " or ".join(_TYPE_NAMES.get(k, k) for k in kinds)
        return f"{key}: expected {wanted}, got {instance!r}"
    if error.validator in ("oneOf", "anyOf"):
        kinds = sorted({_TYPE_NAMES.get(k, k) for s in error.validator_value for k in _branch_types(_resolve(s))})
        if kinds and not any(_type_matches(instance, _resolve(s)) for s in error.validator_value):
            return f"{key}: expected {' or '.join(kinds)}, got {instance!r}"
        if error.validator == "oneOf" and isinstance(instance, dict):
            required = [s.get("required", []) for s in error.validator_value]
            if all(len(r) == 1 for r in required):
                names = [r[0] for r in required]
                present = [n for n in names if n in instance]
                if len(present) != 1:
                    return f"{key}: give exactly one of {', '.join(names)}" + (
                        f" (found {', '.join(present)})" if present else "")
        return f"{key}: {_short(instance)} does not match any allowed form ({error.schema.get('description', '').strip() or 'see the schema'})"
    if error.validator == "pattern" and schema.get("pattern") in _PATTERN_MEANINGS:
        return f"{key}: {instance!r} is not {_PATTERN_MEANINGS[schema['pattern']]}"
    if error.validator == "propertyNames":
        return f"{key}: name {error.instance!r} is not allowed ({error.message})"
    return f"{key}: {error.message}"


def _branch_types(schema: dict) -> list[str]:
    kinds = schema.get("type")
    if kinds is None:
        if "enum" in schema:
            return ["string"] if all(isinstance(v, str) for v in schema["enum"]) else []
        return ["object"] if "properties" in schema else []
    return kinds if isinstance(kinds, list) else [kinds]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
