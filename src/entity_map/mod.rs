//! Entity taxonomy and descriptor -> entity signature maps.
