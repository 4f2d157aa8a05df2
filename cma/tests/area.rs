//! The area set: fallback along the map, lookup and free by address at region
//! boundaries, handles, stats and the dump.

mod common;

use common::{area, range, region};
use contig_cma::{
    Allocation, AreaSet, DmaError, Error, Name, PhysAddr, RegionId, RegionIndex, RegionMap, Request,
};

fn name_of(set: &AreaSet, a: &Allocation<'_>) -> String {
    set.get(a.region()).unwrap().name().as_str().to_owned()
}

fn three() -> AreaSet {
    let mut set = area(vec![
        region("video", 0x1000_0000, 0x4000, 0x1000),
        region("common", 0x2000_0000, 0x8000, 0x1000),
        region("dsp", 0x3000_0000, 0x2000, 0x1000),
    ]);
    let map: RegionMap = "camera=video,common;dsp=dsp,video".parse().unwrap();
    set.set_map(&map).unwrap();
    set
}

#[test]
fn device_list_is_walked_in_order() {
    let set = three();
    let page = Request::new(0x1000);
    let held: Vec<_> = (0..6)
        .map(|_| set.alloc("camera", &page).unwrap())
        .collect();
    let names: Vec<_> = held.iter().map(|a| name_of(&set, a)).collect();
    assert_eq!(
        names,
        ["video", "video", "video", "video", "common", "common"]
    );
    // dsp draws from dsp, then video (full), and fails with video's error.
    let d: Vec<_> = (0..2).map(|_| set.alloc("dsp", &page).unwrap()).collect();
    assert!(d.iter().all(|a| name_of(&set, a) == "dsp"));
    match set.alloc("dsp", &page) {
        Err(Error::Backend { region, .. }) => assert_eq!(region, "video"),
        other => panic!("{other:?}"),
    }
    // Freeing in video makes the first choice available again.
    drop(held);
    assert_eq!(name_of(&set, &set.alloc("camera", &page).unwrap()), "video");
}

#[test]
fn request_that_cannot_fit_a_region_falls_through() {
    let set = three();
    // Only common lies inside this window: video is skipped (window misses it).
    let window = range(0x2000_0000, 0x1000_0000);
    let a = set
        .alloc("camera", &Request::new(0x1000).within(window))
        .unwrap();
    assert_eq!(name_of(&set, &a), "common");
    // Too big for video (16 KiB), fits common.
    let b = set.alloc("camera", &Request::new(0x5000)).unwrap();
    assert_eq!(name_of(&set, &b), "common");
    assert_eq!(set.stats("video").unwrap().counters.failures, 2);
}

#[test]
fn unlisted_devices_use_the_fallback_entry_then_the_default_region() {
    let mut set = three();
    let page = Request::new(0x1000);
    assert_eq!(
        set.alloc("uart", &page).map(|_| ()),
        Err(Error::NoRegionForDevice {
            device: Name::new("uart").unwrap()
        })
    );
    set.set_default("dsp").unwrap();
    assert_eq!(name_of(&set, &set.alloc("uart", &page).unwrap()), "dsp");
    set.set_map(&"camera=video;*=common".parse().unwrap())
        .unwrap();
    assert_eq!(name_of(&set, &set.alloc("uart", &page).unwrap()), "common");
    assert_eq!(name_of(&set, &set.alloc("camera", &page).unwrap()), "video");
    assert_eq!(set.regions_for("dsp").unwrap(), [RegionId::new(1)]);
}

#[test]
fn alloc_from_tries_names_in_order() {
    let set = three();
    let big = Request::new(0x3000);
    let a = set.alloc_from(&["video", "common"], &big).unwrap();
    let b = set.alloc_from(&["video", "common"], &big).unwrap();
    assert_eq!(
        (name_of(&set, &a), name_of(&set, &b)),
        ("video".into(), "common".into())
    );
    let c = set.alloc_from(&["dsp", "common"], &big).unwrap();
    assert_eq!(name_of(&set, &c), "common");
}

#[test]
fn free_by_address_at_region_boundaries() {
    // a and b touch; c follows a gap.
    let set = area(vec![
        region("b", 0x1001_0000, 0x1_0000, 0x1000),
        region("a", 0x1000_0000, 0x1_0000, 0x1000),
        region("c", 0x1003_0000, 0x1_0000, 0x1000),
    ]);
    let (a, b, c) = (RegionId::new(1), RegionId::new(0), RegionId::new(2));
    let at = |x| set.find(PhysAddr::new(x));
    assert_eq!(at(0x0fff_ffff), None);
    assert_eq!(at(0x1000_0000), Some(a));
    assert_eq!(at(0x1000_ffff), Some(a));
    assert_eq!(at(0x1001_0000), Some(b));
    assert_eq!(at(0x1001_ffff), Some(b));
    assert_eq!(at(0x1002_0000), None);
    assert_eq!(at(0x1003_0000), Some(c));
    assert_eq!(at(0x1004_0000), None);
    assert_eq!(at(u64::MAX), None);

    // The last granule of a and the first of b, freed by address.
    let last_a = range(0x1000_f000, 0x1000);
    let win = |r| Request::new(0x1000).within(r);
    let x = set.alloc_from_region("a", &win(last_a)).unwrap().into_raw();
    let y = set
        .alloc_from_region("b", &win(range(0x1001_0000, 0x1000)))
        .unwrap()
        .into_raw();
    assert_eq!(x.range, last_a);
    assert_eq!(y.range.base(), PhysAddr::new(0x1001_0000));
    // A range that starts in a and runs into b belongs to neither.
    assert!(matches!(
        set.free_at(PhysAddr::new(0x1000_f000), 0x2000),
        Err(DmaError::OutsideRegion { .. })
    ));
    set.free_at(PhysAddr::new(0x1001_0000), 0x1000).unwrap();
    set.free_at(PhysAddr::new(0x1000_f000), 0x1000).unwrap();
    assert_eq!(
        set.free_at(PhysAddr::new(0x1002_0000), 0x1000),
        Err(DmaError::UnknownAddress {
            addr: PhysAddr::new(0x1002_0000)
        })
    );
    for (_, r) in set.regions() {
        assert_eq!(r.stats().backend.live_allocations, 0);
    }
}

#[test]
fn find_agrees_with_a_linear_scan() {
    let set = area(
        (0..20u64)
            .rev()
            .map(|i| {
                region(
                    &format!("r{i}"),
                    0x10_0000 * i + 0x8000 * (i % 3),
                    0x8000 * if i % 2 == 0 { 1 } else { 2 },
                    0x1000,
                )
            })
            .collect(),
    );
    for addr in (0..0x150_0000u64).step_by(0x1000) {
        let linear = set
            .regions()
            .find(|(_, r)| r.range().contains(PhysAddr::new(addr)))
            .map(|(id, _)| id);
        assert_eq!(set.find(PhysAddr::new(addr)), linear, "{addr:#x}");
        assert_eq!(
            set.find(PhysAddr::new(addr + 0xfff)),
            set.find(PhysAddr::new(addr))
        );
    }
}

#[test]
fn handles_free_once() {
    let set = area(vec![region("r", 0, 0x4000, 0x1000)]);
    let used = || set.stats("r").unwrap().used_bytes();
    {
        let a = set.alloc_from_region("r", &Request::new(10)).unwrap();
        assert_eq!((a.size(), a.range().size(), used()), (10, 10, 0x1000));
    }
    assert_eq!(used(), 0);

    let a = set.alloc_from_region("r", &Request::new(0x1000)).unwrap();
    assert_eq!(a.free(), Ok(()));
    assert_eq!(used(), 0);

    let raw = set
        .alloc_from_region("r", &Request::new(0x2000))
        .unwrap()
        .into_raw();
    assert_eq!(used(), 0x2000);
    let adopted = Allocation::from_raw(&set, raw);
    drop(adopted);
    assert_eq!(used(), 0);
    assert!(matches!(set.free(raw), Err(DmaError::NotAllocated { .. })));

    // A copy of the raw handle freed behind the owner's back: the owner's drop is a
    // refused double free, not a second free.
    let owner = set.alloc_from_region("r", &Request::new(0x1000)).unwrap();
    set.free(owner.raw()).unwrap();
    assert!(matches!(owner.free(), Err(DmaError::NotAllocated { .. })));
    assert_eq!(set.stats("r").unwrap().counters.frees, 4);
}

#[test]
fn stats_and_dump_show_live_allocations() {
    let set = three();
    let a = set.alloc("camera", &Request::new(0x1000)).unwrap();
    let b = set.alloc("camera", &Request::new(0x1800)).unwrap();
    let s = set.stats("video").unwrap();
    assert_eq!(
        (s.used_bytes(), s.free_bytes(), s.size_bytes()),
        (0x3000, 0x1000, 0x4000)
    );
    assert_eq!(
        (s.largest_free_bytes(), s.counters.allocations),
        (0x1000, 2)
    );
    let text = set.dump().to_string();
    let expected_video = "region \"video\" [0x10000000, 0x10004000) granule 0x1000 backend naive flags -\n  used 0x3000 of 0x4000 bytes, largest free 0x1000, 2 live\n  allocations 2, failures 0, frees 0, busy 0, retries 0, reclaim failures 0\n  [0x10000000, 0x10001000)\n  [0x10001000, 0x10003000)\n";
    assert!(text.starts_with(expected_video), "{text}");
    assert!(text.contains("region \"common\" [0x20000000, 0x20008000)"));
    assert!(text.contains("region \"dsp\""));
    drop((a, b));
    assert!(!set.dump().to_string().contains("[0x10000000, 0x10001000)"));
}

#[test]
fn alignment_is_absolute() {
    // Base 0x1000 is not 64 KiB-aligned: the result must still be.
    let set = area(vec![region("r", 0x1000, 0x4_0000, 0x1000)]);
    let a = set
        .alloc_from_region("r", &Request::new(0x1000).aligned(0x1_0000))
        .unwrap();
    assert_eq!(a.addr(), PhysAddr::new(0x1_0000));
    // An alignment below the granule is the granule.
    let b = set
        .alloc_from_region("r", &Request::new(1).aligned(16))
        .unwrap();
    assert_eq!(b.addr(), PhysAddr::new(0x1000));
}

#[test]
fn claim_takes_exactly_the_covering_granules() {
    let set = three();
    let video = Name::new("video").unwrap();
    // 0x10001800 + 0x1000 covers granules 1 and 2.
    let c = set.claim(range(0x1000_1800, 0x1000)).unwrap();
    assert_eq!(c.range(), range(0x1000_1000, 0x2000));
    assert_eq!(name_of(&set, &c), "video");
    let video_index = RegionIndex::of(set.id_of("video").unwrap());
    let busy = set.claim(range(0x1000_2000, 0x1000)).map(|_| ());
    assert_eq!(
        busy,
        Err(DmaError::RangeBusy {
            region: video_index,
            range: range(0x1000_2000, 0x1000),
            first_busy: PhysAddr::new(0x1000_2000),
        })
    );
    // The named form is the backend's answer in units, as the by-name calls report it.
    assert!(matches!(
        set.to_error(busy.unwrap_err()),
        Error::Backend { region, source: contig_cma::allocators::Error::RangeBusy { start: 2, count: 1, first_busy: 2 } }
            if region == video
    ));
    let outside = set.claim(range(0x1000_3000, 0x2000)).map(|_| ());
    assert_eq!(
        outside,
        Err(DmaError::OutsideRegion {
            region: video_index,
            range: range(0x1000_3000, 0x2000)
        })
    );
    assert_eq!(
        set.to_error(outside.unwrap_err()),
        Error::OutsideRegion {
            region: video,
            range: range(0x1000_3000, 0x2000)
        }
    );
    assert_eq!(
        set.claim(range(0x1800_0000, 0x1000)).map(|_| ()),
        Err(DmaError::UnknownAddress {
            addr: PhysAddr::new(0x1800_0000)
        })
    );
    assert_eq!(
        set.claim(range(0x1000_0000, 0)).map(|_| ()),
        Err(DmaError::ZeroRequest)
    );
    // Allocations go around the claim.
    let a = set
        .alloc_from_region("video", &Request::new(0x2000))
        .map(|a| a.range());
    assert!(matches!(a, Err(Error::Backend { .. })), "{a:?}");
    let b = set
        .alloc_from_region("video", &Request::new(0x1000))
        .unwrap();
    assert_eq!(b.addr(), PhysAddr::new(0x1000_0000));
    drop(c);
    let d = set
        .alloc_from_region("video", &Request::new(0x2000))
        .unwrap();
    assert_eq!(d.addr(), PhysAddr::new(0x1000_1000));
}

#[test]
fn kinds_route_before_their_device() {
    let mut set = three();
    set.set_map(
        &"camera/preview=dsp,common;camera=video;*=common"
            .parse()
            .unwrap(),
    )
    .unwrap();
    let page = Request::new(0x1000);
    assert_eq!(
        name_of(&set, &set.alloc_kind("camera", "preview", &page).unwrap()),
        "dsp"
    );
    assert_eq!(
        name_of(&set, &set.alloc_kind("camera", "still", &page).unwrap()),
        "video"
    );
    assert_eq!(name_of(&set, &set.alloc("camera", &page).unwrap()), "video");
    assert_eq!(
        name_of(&set, &set.alloc_kind("gpu", "x", &page).unwrap()),
        "common"
    );
    // The kind entry is not a device of its own prefix: "camera/p" is unlisted.
    assert_eq!(
        name_of(&set, &set.alloc_kind("camera", "p", &page).unwrap()),
        "video"
    );
    assert_eq!(
        set.alloc_kind("camera", "preview", &Request::new(0))
            .map(|_| ()),
        Err(Error::ZeroRequest)
    );
}
