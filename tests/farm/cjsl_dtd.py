"""A small DTD validator for Cuebot's job specs (CJSL): no XML library with DTD validation is installed here,
and a spec the Cuebot refuses is refused whole, after submission. Checks what the DTD says: each element's
children in its content model's order, required and enumerated attributes, NMTOKEN values."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NMTOKEN = re.compile(r"[A-Za-z0-9_.:\-]+")


@dataclass
class Attribute:
    kind: str  # CDATA, NMTOKEN, ... or "enum"
    required: bool
    choices: tuple[str, ...] = ()


@dataclass
class Element:
    children: re.Pattern | None  # None: text only (#PCDATA)
    attributes: dict[str, Attribute] = field(default_factory=dict)


def _model_regex(model: str) -> re.Pattern | None:
    """A content model ``(a,b?,c*)`` as a regex over the child names, each followed by one space."""
    if "#PCDATA" in model:
        return None
    if model.strip() == "EMPTY":
        return re.compile("")
    pattern = re.sub(r"[A-Za-z_][\w.\-]*", lambda m: f"(?:{m.group(0)} )", model.replace(" ", ""))
    return re.compile(pattern.replace(",", "").replace("(", "(?:").replace("(?:?:", "(?:"))


def parse_dtd(text: str) -> dict[str, Element]:
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    elements = {
        name: Element(_model_regex(model))
        for name, model in re.findall(r"<!ELEMENT\s+(\S+)\s+(.*?)>", text, flags=re.S)
    }
    for name, body in re.findall(r"<!ATTLIST\s+(\S+)\s+(.*?)>", text, flags=re.S):
        for attr, kind, default in re.findall(r"(\S+)\s+(\([^)]*\)|\S+)\s+(#REQUIRED|#IMPLIED|\"[^\"]*\")", body):
            choices = tuple(c.strip() for c in kind.strip("()").split("|")) if kind.startswith("(") else ()
            elements[name].attributes[attr] = Attribute("enum" if choices else kind, default == "#REQUIRED", choices)
    return elements


def problems(spec_xml: str, dtd: dict[str, Element]) -> list[str]:
    """Every way ``spec_xml`` breaks ``dtd`` (empty when it is valid)."""
    found = []

    def check(node: ET.Element, where: str) -> None:
        rule = dtd.get(node.tag)
        if rule is None:
            found.append(f"{where}: element <{node.tag}> is not in the DTD")
            return
        names = "".join(f"{child.tag} " for child in node)
        if rule.children is None and len(node):
            found.append(f"{where}: <{node.tag}> holds text only, not <{node[0].tag}>")
        elif rule.children is not None and not rule.children.fullmatch(names):
            found.append(f"{where}: children of <{node.tag}> are [{names.strip()}], not in the DTD's order")
        for attr, value in node.attrib.items():
            declared = rule.attributes.get(attr)
            if declared is None:
                found.append(f"{where}: attribute {attr} is not declared for <{node.tag}>")
            elif declared.kind == "enum" and value not in declared.choices:
                found.append(f"{where}: {attr}={value!r} is none of {declared.choices}")
            elif declared.kind == "NMTOKEN" and not NMTOKEN.fullmatch(value):
                found.append(f"{where}: {attr}={value!r} is not an NMTOKEN")
        for attr, declared in rule.attributes.items():
            if declared.required and attr not in node.attrib:
                found.append(f"{where}: <{node.tag}> lacks the required attribute {attr}")
        for i, child in enumerate(node):
            check(child, f"{where}/{child.tag}[{i}]")

    root = ET.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", spec_xml))
    check(root, root.tag)
    return found
