//! [`compose_runtime!`](crate::compose_runtime): a runtime's `Call` and `Event` enums from its
//! modules, with the conversions and the dispatch that every runtime otherwise writes by hand.

/// Declares a runtime's `Call` and `Event` enums over its modules, with their SCALE indices
/// (part of the wire format: never renumber), `From` each module's event, and
/// `Dispatch<Event> for Call` (a module listed under `inherents` is dispatched as an inherent).
///
/// ```ignore
/// tessera_runtime::compose_runtime! {
///     calls {
///         /// `system`.
///         0 => System(system::Call),
///         /// `balances`.
///         1 => Balances(balances::Call),
///     }
///     events {
///         /// `system`.
///         0 => System(system::Event),
///         /// `balances`.
///         1 => Balances(balances::Event),
///     }
///     inherents {}
/// }
/// ```
///
/// The crate using it depends on `parity-scale-codec` (the enums derive its traits).
#[macro_export]
macro_rules! compose_runtime {
    (
        calls { $( $(#[$call_doc:meta])* $call_index:literal => $call:ident($call_ty:ty) ),* $(,)? }
        events { $( $(#[$event_doc:meta])* $event_index:literal => $event:ident($event_ty:ty) ),* $(,)? }
        inherents { $( $inherent:ident ),* $(,)? }
    ) => {
        /// Every call of the runtime.
        #[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
        pub enum Call {
            $( $(#[$call_doc])* #[codec(index = $call_index)] $call($call_ty), )*
        }

        /// Every event of the runtime.
        #[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
        pub enum Event {
            $( $(#[$event_doc])* #[codec(index = $event_index)] $event($event_ty), )*
        }

        $(
            impl From<$event_ty> for Event {
                fn from(event: $event_ty) -> Self {
                    Event::$event(event)
                }
            }
        )*

        impl $crate::dispatch::Dispatch<Event> for Call {
            fn weight(&self) -> $crate::dispatch::Weight {
                match self {
                    $( Call::$call(call) => $crate::dispatch::Dispatch::<Event>::weight(call), )*
                }
            }

            fn dispatch(
                self,
                ctx: &mut $crate::dispatch::Context<'_, Event>,
                origin: $crate::dispatch::Origin,
            ) -> $crate::dispatch::CallResult {
                match self {
                    $( Call::$call(call) => $crate::dispatch::Dispatch::<Event>::dispatch(call, ctx, origin), )*
                }
            }

            fn is_inherent(&self) -> bool {
                #[allow(unreachable_patterns)]
                match self {
                    $( Call::$inherent(_) => true, )*
                    _ => false,
                }
            }
        }
    };
}
