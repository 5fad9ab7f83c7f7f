//! cordon-net
