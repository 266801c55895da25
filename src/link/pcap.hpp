// Capture files: classic pcap with nanosecond timestamps and LINKTYPE_ETHERNET, flushed
// after every frame so a capture can be read while the program still runs.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

#include "usnet/types.hpp"

namespace usnet::link {

class PcapWriter {
public:
    bool open(const std::string& path);
    // t: nanoseconds since the epoch the reader shows (any origin works for tshark).
    void write(Time t, const uint8_t* p, uint32_t n);
    bool is_open() const { return out_.is_open(); }

private:
    std::ofstream out_;
};

}  // namespace usnet::link
