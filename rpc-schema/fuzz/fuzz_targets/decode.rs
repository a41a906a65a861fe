//! Fuzzes the frame decoder: any bytes must decode, wait for more, or fail cleanly — never
//! panic — and whatever decodes must re-encode to a frame that decodes to the same envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether_rpc_schema::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((envelope, used))) = codec::decode(data) {
        assert!(used <= data.len());
        let frame = codec::encode(&envelope).expect("a decoded envelope encodes");
        let (again, _) = codec::decode(&frame).expect("re-encoded frame decodes").expect("complete frame");
        assert_eq!(again, envelope);
    }
});
