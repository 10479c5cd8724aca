"""The XMP packet that carries the IPTC Digital Source Type: build one, merge into one, read one."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

X = "adobe:ns:meta/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DST = f"{{{IPTC_EXT}}}DigitalSourceType"
_ABOUT = f"{{{RDF}}}about"
_RESOURCE = f"{{{RDF}}}resource"
_DESCRIPTION = f"{{{RDF}}}Description"
_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_TAIL = '<?xpacket end="w"?>'
# Familiar prefixes, so that a merged packet reads like the original (unknown namespaces get ns0, ns1:
# legal RDF, since only the namespace URI carries meaning).
_PREFIXES = {
    "x": X,
    "rdf": RDF,
    "Iptc4xmpExt": IPTC_EXT,
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "stEvt": "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "xmpNote": "http://ns.adobe.com/xmp/note/",
    "dcterms": "http://purl.org/dc/terms/",
}
for _prefix, _uri in _PREFIXES.items():
    ET.register_namespace(_prefix, _uri)

_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def build(digital_source_type: str) -> bytes:
    """A fresh XMP packet stating only the digital source type."""
    return _wrap(_meta_element(digital_source_type))


def merge(existing: bytes | None, digital_source_type: str) -> bytes:
    """``existing`` with its digital source type set (any earlier one dropped, every other property
    kept); a fresh packet when there is none or it is not readable RDF."""
    root = _parse(existing) if existing else None
    rdf = _find_rdf(root)
    if rdf is None:
        return build(digital_source_type)
    for description in list(rdf.iter(_DESCRIPTION)):
        description.attrib.pop(DST, None)
        for child in [c for c in description if c.tag == DST]:
            description.remove(child)
        if description in rdf and len(description) == 0 and set(description.attrib) <= {_ABOUT}:
            rdf.remove(description)  # it held only the old mark (marking twice leaves one)
    rdf.append(_description(digital_source_type))
    meta = root if root.tag == f"{{{X}}}xmpmeta" else _wrap_rdf(rdf)
    return _wrap(meta)


def digital_source_type(packet: bytes | None) -> str | None:
    """The digital source type a packet states (attribute or element form), or None."""
    rdf = _find_rdf(_parse(packet) if packet else None)
    if rdf is None:
        return None
    for description in rdf.iter(_DESCRIPTION):
        if DST in description.attrib:
            return description.attrib[DST].strip()
        for child in description:
            if child.tag == DST:
                return (child.get(_RESOURCE) or child.text or "").strip() or None
    return None


def _parse(packet: bytes) -> ET.Element | None:
    # XMP forbids DTDs; refusing them here also rules out entity expansion from untrusted files.
    if _DTD.search(packet):
        return None
    try:
        return ET.fromstring(packet)  # noqa: S314 - no DTD can reach the parser (checked above)
    except ET.ParseError:
        return None


def _find_rdf(root: ET.Element | None) -> ET.Element | None:
    if root is None:
        return None
    if root.tag == f"{{{RDF}}}RDF":
        return root
    return root.find(f"{{{RDF}}}RDF")


def _description(digital_source_type: str) -> ET.Element:
    return ET.Element(_DESCRIPTION, {_ABOUT: "", DST: digital_source_type})


def _wrap_rdf(rdf: ET.Element) -> ET.Element:
    meta = ET.Element(f"{{{X}}}xmpmeta")
    meta.append(rdf)
    return meta


def _meta_element(digital_source_type: str) -> ET.Element:
    rdf = ET.Element(f"{{{RDF}}}RDF")
    rdf.append(_description(digital_source_type))
    return _wrap_rdf(rdf)


def _wrap(meta: ET.Element) -> bytes:
    body = ET.tostring(meta, encoding="unicode")
    return f"{_HEAD}\n{body}\n{_TAIL}".encode()
