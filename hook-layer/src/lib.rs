//! LD_PRELOAD hook layer.
