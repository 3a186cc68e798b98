//! Structure and union layout (filled in by the layout work).
