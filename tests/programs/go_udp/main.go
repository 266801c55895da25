// UDP echo over loopback through Go's net package (its netpoller: epoll, non-blocking
// sockets, its own system calls, never libc's wrappers), deadlines, a connected client that
// gets ECONNREFUSED, and the interface list (netlink). Run by go_test.sh.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			srv.WriteToUDP(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	c, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		fmt.Println("dial:", err)
		os.Exit(1)
	}
	fmt.Println("local is loopback:", c.LocalAddr().(*net.UDPAddr).IP.IsLoopback())
	buf := make([]byte, 2048)
	for i := 0; i < 3; i++ {
		c.Write([]byte(fmt.Sprintf("msg %d", i)))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		fmt.Println("reply:", string(buf[:n]), err)
	}
	// Nothing will come: the deadline fires.
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = c.Read(buf)
	fmt.Println("timeout:", err.(net.Error).Timeout())
	// A port nobody listens on: connected UDP gets ECONNREFUSED from the ICMP error.
	d, _ := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	d.Write([]byte("x"))
	d.SetReadDeadline(time.Now().Add(time.Second))
	_, err = d.Read(buf)
	fmt.Println("refused:", err.(*net.OpError).Err)
	// The interface list comes over netlink; lo's IPv4 address is the same on both.
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		fmt.Println("lo:", err)
		return
	}
	addrs, _ := lo.Addrs()
	for _, a := range addrs {
		if ip, _, _ := net.ParseCIDR(a.String()); ip.To4() != nil {
			fmt.Println("lo:", a, "up:", lo.Flags&net.FlagUp != 0)
		}
	}
}
