# Evaluate a Vagrantfile against a recording stand-in for Vagrant; print its machines as JSON.
# Used by tests/lab/test_vagrant.py:  ruby tests/lab/vagrant_record.rb Vagrantfile
require "json"

# Records attribute writes, calls (with the recorders their blocks were given) and children.
class Recorder
  attr_reader :calls, :attrs, :children

  def initialize
    @calls = []
    @attrs = {}
    @children = {}
  end

  def method_missing(name, *args, **kwargs, &block)
    key = name.to_s
    return @attrs[key.chomp("=")] = args.first if key.end_with?("=")
    return (@children[key] ||= Recorder.new) if args.empty? && kwargs.empty? && block.nil?

    inner = block ? [Recorder.new, Recorder.new] : []
    @calls << { name: key, args: args, kwargs: kwargs, inner: inner }
    block&.call(*inner)
    nil
  end

  def respond_to_missing?(*)
    true
  end

  def named(name)
    @calls.select { |call| call[:name] == name }
  end
end

CONFIG = Recorder.new

# The stand-in: Vagrant.configure hands the Vagrantfile our recorder.
module Vagrant
  def self.configure(_version)
    yield CONFIG
  end
end

load ARGV.fetch(0)

def provider(vm, name)
  vm.named("provider").find { |call| call[:args].first.to_s == name } or
    raise "machine has no #{name} provider block"
end

def provision(call)
  call[:inner][1].vm.named("provision").map { |p| p[:kwargs][:inline] }.join("\n")
end

machines = CONFIG.vm.named("define").map do |define|
  vm = define[:inner][0].vm
  libvirt = provider(vm, "libvirt")
  vbox = provider(vm, "virtualbox")
  {
    name: define[:args].first.to_s,
    hostname: vm.attrs["hostname"],
    ip: vm.named("network").first[:kwargs][:ip],
    libvirt_disks: libvirt[:inner][0].named("storage").size,
    virtualbox_disks: vbox[:inner][0].named("customize").count { |c| c[:args][0][0] == "storageattach" },
    libvirt_provision: provision(libvirt),
    virtualbox_provision: provision(vbox)
  }
end
puts JSON.generate(machines)
