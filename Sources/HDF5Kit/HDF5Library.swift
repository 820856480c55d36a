internal import CHDF5

/// The HDF5 library this process linked: its version, checked against the headers it
/// was compiled with. `TripletData` and `Checkpoint` build their files on this module.
public enum HDF5Library {
    /// The library's version as (major, minor, release), e.g. (1, 10, 8).
    public static var version: (major: Int, minor: Int, release: Int) {
        var major: UInt32 = 0
        var minor: UInt32 = 0
        var release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return (Int(major), Int(minor), Int(release))
    }

    /// "1.10.8".
    public static var versionString: String {
        let v = version
        return "\(v.major).\(v.minor).\(v.release)"
    }

    /// The version of the headers this module was compiled against.
    public static var headerVersionString: String {
        "\(H5_VERS_MAJOR).\(H5_VERS_MINOR).\(H5_VERS_RELEASE)"
    }

    /// Whether the library is thread-safe (Debian's serial build is not: HDF5 calls must
    /// come from one thread at a time).
    public static var isThreadSafe: Bool {
        var flag: hbool_t = false
        H5is_library_threadsafe(&flag)
        return flag
    }
}
