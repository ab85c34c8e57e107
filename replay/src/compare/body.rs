//! Response bodies: framing and content codings undone, compared by type.
