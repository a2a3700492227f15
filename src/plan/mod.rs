//! Job plans.
